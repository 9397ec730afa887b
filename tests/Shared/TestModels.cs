using First.Gguf;

namespace First.Tests;

/// <summary>Model files the tests derive from the shared ones.</summary>
internal static class TestModels
{
    /// <summary>A copy of <paramref name="source"/> with every key and tensor, plus one tensor no architecture reads.</summary>
    public static void WithExtraTensor(string source, string path) => Copy(source, path, extraTensor: true);

    /// <summary>
    /// A copy of <paramref name="source"/> whose keys pass through <paramref name="metadata"/> (null drops a key) and whose
    /// tensors are those <paramref name="keepTensor"/> keeps, plus <c>extra.weight</c> (4 floats) with <paramref name="extraTensor"/>.
    /// </summary>
    public static void Copy(string source, string path, Func<string, GgufValue, GgufValue?>? metadata = null, Func<string, bool>? keepTensor = null,
        bool extraTensor = false)
    {
        using var file = GgufFile.Open(source);
        using var writer = GgufWriter.CreateFile(path);
        foreach (var (key, value) in file.Metadata)
        {
            if ((metadata is null ? value : metadata(key, value)) is { } kept)
            {
                writer.Metadata.Add(key, kept);
            }
        }

        var tensors = file.Tensors.Where(t => keepTensor?.Invoke(t.Name) ?? true).ToList();
        foreach (var t in tensors)
        {
            writer.AddTensor(t.Name, t.Type, [.. t.Shape]);
        }

        if (extraTensor)
        {
            writer.AddTensor("extra.weight", GgmlType.F32, 4);
        }

        foreach (var t in tensors)
        {
            writer.WriteTensorData(file.GetTensorData<byte>(t));
        }

        if (extraTensor)
        {
            writer.WriteTensorData(new byte[16]);
        }

        writer.Finish();
    }
}
