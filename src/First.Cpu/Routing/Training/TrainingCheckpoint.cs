using First.Gguf;

namespace First.Cpu.Routing.Training;

/// <summary>A checkpoint that cannot be resumed by this command; the message says why.</summary>
public sealed class TrainingCheckpointException(string message) : Exception(message);

/// <summary>
/// Training state on disk, as GGUF (general.architecture "first-router-checkpoint"): the trained tensors (routers or adapters), AdamW's moments
/// and step count, lambda, the step reached, and the settings it was made with. Written to a temporary file and
/// renamed, so a kill leaves the previous checkpoint whole.
/// </summary>
public static class TrainingCheckpoint
{
    private const string Architecture = "first-router-checkpoint";

    /// <summary>Saves the state after <paramref name="step"/> steps: the trained tensors and the optimiser's moments.</summary>
    public static void Write(string path, int step, float lambda, string settings, IReadOnlyList<float[]> parameters, AdamW optimizer)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(optimizer);
        var tmp = path + ".tmp";
        using (var w = GgufWriter.CreateFile(tmp))
        {
            w.Metadata.Add("general.architecture", GgufValue.FromString(Architecture));
            w.Metadata.Add("first.checkpoint.step", GgufValue.FromUInt32((uint)step));
            w.Metadata.Add("first.checkpoint.optimizer_steps", GgufValue.FromUInt32((uint)optimizer.Steps));
            w.Metadata.Add("first.checkpoint.lambda", GgufValue.FromFloat32(lambda));
            w.Metadata.Add("first.checkpoint.settings", GgufValue.FromString(settings));
            var lists = Lists(parameters, optimizer);
            foreach (var (name, list) in lists)
            {
                for (var k = 0; k < list.Count; k++)
                {
                    w.AddTensor($"{name}.{k}", GgmlType.F32, list[k].Length);
                }
            }

            foreach (var (_, list) in lists)
            {
                foreach (var t in list)
                {
                    w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.AsSpan()));
                }
            }

            w.Finish();
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Loads a checkpoint into <paramref name="parameters"/> and <paramref name="optimizer"/>; returns the step and lambda.</summary>
    /// <exception cref="TrainingCheckpointException">It was written with other settings or data, or is not a checkpoint.</exception>
    public static (int Step, float Lambda) Read(string path, IReadOnlyList<float[]> parameters, AdamW optimizer, string settings)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(optimizer);
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (GgufFormatException e)
        {
            throw new TrainingCheckpointException($"checkpoint {path} is unreadable ({e.Message}); delete it to start again");
        }

        using (file)
        {
            var m = file.Metadata;
            if (m.GetStringOrNull("general.architecture") != Architecture)
            {
                throw new TrainingCheckpointException($"{path} is not a router training checkpoint");
            }

            var theirs = m.GetString("first.checkpoint.settings");
            if (theirs != settings)
            {
                var differ = Difference(theirs, settings);
                throw new TrainingCheckpointException($"checkpoint {path} was written with other settings or data ({differ}); use the same command, or delete it to start again");
            }

            foreach (var (name, list) in Lists(parameters, optimizer))
            {
                for (var k = 0; k < list.Count; k++)
                {
                    var t = file.Tensors.FirstOrDefault(x => x.Name == $"{name}.{k}");
                    if (t is null || t.Type != GgmlType.F32 || t.ElementCount != list[k].Length)
                    {
                        throw new TrainingCheckpointException($"checkpoint {path}: tensor {name}.{k} is missing or has the wrong size");
                    }

                    file.GetTensorData<float>(t).CopyTo(list[k]);
                }
            }

            optimizer.Steps = checked((int)m.GetUInt32("first.checkpoint.optimizer_steps"));
            return (checked((int)m.GetUInt32("first.checkpoint.step")), m.GetFloat32("first.checkpoint.lambda"));
        }
    }

    private static (string Name, IReadOnlyList<float[]> List)[] Lists(IReadOnlyList<float[]> parameters, AdamW optimizer) =>
        [("param", parameters), ("adam_m", optimizer.First), ("adam_v", optimizer.Second)];

    private static string Difference(string theirs, string ours)
    {
        var a = theirs.Split(';', StringSplitOptions.RemoveEmptyEntries);
        var b = ours.Split(';', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var first = a.FirstOrDefault(x => !b.Contains(x));
        var key = first?.Split('=')[0];
        var mine = key is null ? null : b.FirstOrDefault(x => x.StartsWith(key + "=", StringComparison.Ordinal));
        return first is null ? "different settings" : $"it has {first}, this run {mine ?? "none"}";
    }
}
