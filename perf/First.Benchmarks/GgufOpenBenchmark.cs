using BenchmarkDotNet.Attributes;
using First.Gguf;

namespace First.Benchmarks;

/// <summary>
/// Opening a model: map the file, parse header, metadata (32k-token vocabulary) and tensor table.
/// The data is never read, so the time does not grow with the file size.
/// </summary>
[MemoryDiagnoser]
public class GgufOpenBenchmark
{
    private string _path = string.Empty;

    [Params("tinyllama-1.1b")]
    public string Preset { get; set; } = string.Empty;

    [Params("q4_0", "q8_0")]
    public string Type { get; set; } = string.Empty;

    [GlobalSetup]
    public void Setup() => _path = SynthModels.Get(Preset, Type);

    [Benchmark]
    public int OpenAndReadHyperparameters()
    {
        using var file = GgufFile.Open(_path);
        return (int)(file.ModelInfo.BlockCount ?? 0) + file.Tensors.Count;
    }
}
