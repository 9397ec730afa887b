using BenchmarkDotNet.Attributes;

namespace First.Benchmarks;

/// <summary>Prefill-shaped products (128 tokens) for every runnable kernel, in GFLOP/s.</summary>
[Config(typeof(Config))]
public class MatMulBenchmark : ProductBenchmark
{
    [ParamsSource(nameof(Kernels))]
    public override string Kernel { get; set; } = "Q4_0 Avx2";

    public override int Tokens { get; set; } = 128;

    /// <summary>Every prefill kernel, the AVX-512 ones included.</summary>
    public static IEnumerable<string> Kernels() => KernelsFor(prefill: true);

    private sealed class Config : BenchmarkConfig
    {
        public Config() => AddColumn(ThroughputColumn.GigaflopsPerSecond);
    }
}
