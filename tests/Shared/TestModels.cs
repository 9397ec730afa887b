using First.Gguf;

namespace First.Tests;

/// <summary>Model files the tests derive from the shared ones.</summary>
internal static class TestModels
{
    /// <summary>A copy of <paramref name="source"/> with every key and tensor, plus one tensor no architecture reads.</summary>
    public static void WithExtraTensor(string source, string path)
    {
        using var file = GgufFile.Open(source);
        using var writer = GgufWriter.CreateFile(path);
        foreach (var (key, value) in file.Metadata)
        {
            writer.Metadata.Add(key, value);
        }

        foreach (var t in file.Tensors)
        {
            writer.AddTensor(t.Name, t.Type, [.. t.Shape]);
        }

        writer.AddTensor("extra.weight", GgmlType.F32, 4);
        foreach (var t in file.Tensors)
        {
            writer.WriteTensorData(file.GetTensorData<byte>(t));
        }

        writer.WriteTensorData(new byte[16]);
        writer.Finish();
    }
}
