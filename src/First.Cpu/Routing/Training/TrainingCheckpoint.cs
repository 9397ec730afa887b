using First.Gguf;

namespace First.Cpu.Routing.Training;

/// <summary>A checkpoint that cannot be resumed by this command; the message says why.</summary>
public sealed class TrainingCheckpointException(string message) : Exception(message);

/// <summary>
/// Training state on disk, as GGUF (general.architecture "first-router-checkpoint"): the routers, AdamW's moments
/// and step count, lambda, the step reached, and the settings it was made with. Written to a temporary file and
/// renamed, so a kill leaves the previous checkpoint whole.
/// </summary>
public static class TrainingCheckpoint
{
    private const string Architecture = "first-router-checkpoint";

    /// <summary>Saves the state after <paramref name="step"/> steps.</summary>
    public static void Write(string path, int step, float lambda, string settings, RouterSet routers, AdamW optimizer)
    {
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(optimizer);
        var tmp = path + ".tmp";
        using (var w = GgufWriter.CreateFile(tmp))
        {
            w.Metadata.Add("general.architecture", GgufValue.FromString(Architecture));
            w.Metadata.Add("first.checkpoint.step", GgufValue.FromUInt32((uint)step));
            w.Metadata.Add("first.checkpoint.optimizer_steps", GgufValue.FromUInt32((uint)optimizer.Steps));
            w.Metadata.Add("first.checkpoint.lambda", GgufValue.FromFloat32(lambda));
            w.Metadata.Add("first.checkpoint.settings", GgufValue.FromString(settings));
            var sets = Sets(routers, optimizer);
            foreach (var (name, set) in sets)
            {
                foreach (var l in set.RoutedLayers)
                {
                    var tensors = set.Routers[l]!.Tensors;
                    for (var k = 0; k < tensors.Count; k++)
                    {
                        w.AddTensor($"{name}.{l}.{k}", GgmlType.F32, tensors[k].Length);
                    }
                }
            }

            foreach (var (_, set) in sets)
            {
                foreach (var l in set.RoutedLayers)
                {
                    foreach (var t in set.Routers[l]!.Tensors)
                    {
                        w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.AsSpan()));
                    }
                }
            }

            w.Finish();
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Loads a checkpoint into <paramref name="routers"/> and <paramref name="optimizer"/>; returns the step and lambda.</summary>
    /// <exception cref="TrainingCheckpointException">It was written with other settings or data, or is not a checkpoint.</exception>
    public static (int Step, float Lambda) Read(string path, RouterSet routers, AdamW optimizer, string settings)
    {
        ArgumentNullException.ThrowIfNull(routers);
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

            foreach (var (name, set) in Sets(routers, optimizer))
            {
                foreach (var l in set.RoutedLayers)
                {
                    var tensors = set.Routers[l]!.Tensors;
                    for (var k = 0; k < tensors.Count; k++)
                    {
                        var t = file.GetTensor($"{name}.{l}.{k}");
                        if (t.Type != GgmlType.F32 || t.ElementCount != tensors[k].Length)
                        {
                            throw new TrainingCheckpointException($"checkpoint {path}: tensor {name}.{l}.{k} has the wrong size");
                        }

                        file.GetTensorData<float>(t).CopyTo(tensors[k]);
                    }
                }
            }

            optimizer.Steps = checked((int)m.GetUInt32("first.checkpoint.optimizer_steps"));
            return (checked((int)m.GetUInt32("first.checkpoint.step")), m.GetFloat32("first.checkpoint.lambda"));
        }
    }

    private static (string Name, RouterSet Set)[] Sets(RouterSet routers, AdamW optimizer) =>
        [("router", routers), ("adam_m", optimizer.First), ("adam_v", optimizer.Second)];

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
