using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;

namespace First.Benchmarks;

/// <summary>
/// Decode- and prefill-shaped products with a TinyLlama feed-forward matrix (5632 rows × 2048 columns),
/// for every runnable kernel of the format. Matrix × vector cycles through copies of the matrix that
/// together exceed the caches, so every weight byte comes from memory, as in real decoding, and reports
/// GB/s of weights streamed; matrix × 128 tokens reports GFLOP/s.
/// </summary>
[Config(typeof(Config))]
public unsafe class MatMulBenchmark : IThroughput
{
    private const int Rows = 5632;
    private const int Cols = 2048;
    private const long CopyBytesTarget = 768L << 20;

    private byte* _weights;
    private int _copies;
    private int _next;
    private QuantMatrix[] _matrices = [];
    private float* _x;
    private float* _y;
    private byte* _scratch;
    private WorkerPool? _pool;

    [Params("Q4_0", "Q8_0", "Q4_K", "Q6_K")]
    public string Type { get; set; } = "Q4_0";

    [ParamsSource(nameof(KernelPaths))]
    public string Path { get; set; } = "Scalar";

    [Params(2)]
    public int Threads { get; set; } = 2;

    [Params(1, 128)]
    public int Tokens { get; set; } = 1;

    /// <summary>Row-by-row paths ("AvxVnni") and interleaved ones ("AvxVnni/interleaved", <see cref="Interleaved8"/>).</summary>
    public static IEnumerable<string> KernelPaths() =>
        KernelRegistry.AllDots.Where(k => k.Type == GgmlType.Q4_0 && k.IsSupported && k.Path != KernelPath.Scalar).Select(k => k.Path.ToString())
            .Concat(KernelRegistry.AllInterleaved.Where(k => k.Type == GgmlType.Q4_0 && k.IsSupported).Select(k => $"{k.Path}/interleaved"));

    public double BytesPerOperation => Tokens == 1 ? QuantFormats.Get(Enum.Parse<GgmlType>(Type)).RowBytes(Cols) * (double)Rows : 0;

    public double FlopsPerOperation => 2.0 * Rows * Cols * Tokens;

    [GlobalSetup]
    public void Setup()
    {
        var type = Enum.Parse<GgmlType>(Type);
        var format = QuantFormats.Get(type);
        var bytes = (long)format.RowBytes(Cols) * Rows;
        _copies = Tokens == 1 ? (int)Math.Max(1, CopyBytesTarget / bytes) : 1;
        _weights = (byte*)NativeMemory.AlignedAlloc((nuint)(bytes * _copies), 4096);
        var rowF = new float[Cols];
        var rng = new Random(42);
        fixed (float* r = rowF)
        {
            for (var row = 0; row < Rows; row++)
            {
                for (var c = 0; c < Cols; c++)
                {
                    rowF[c] = (float)(rng.NextDouble() - 0.5);
                }

                format.Quantize(r, _weights + ((long)row * format.RowBytes(Cols)), Cols);
            }
        }

        for (var c = 1; c < _copies; c++)
        {
            Buffer.MemoryCopy(_weights, _weights + (c * bytes), bytes, bytes);
        }

        var interleaved = Path.EndsWith("/interleaved", StringComparison.Ordinal);
        var forced = Enum.Parse<KernelPath>(Path.Split('/')[0]);
        var kernel = KernelRegistry.AllDots.First(k => k.Type == type && k.Path == forced);
        _matrices = [.. Enumerable.Range(0, _copies).Select(c => new QuantMatrix(_weights + (c * bytes), type, Rows, Cols))
            .Select(m => interleaved ? m.WithInterleavedKernel(KernelRegistry.AllInterleaved.First(k => k.Type == type && k.Path == forced)) : m.WithKernel(kernel))];
        _x = (float*)NativeMemory.AlignedAlloc((nuint)(sizeof(float) * Cols * Tokens), 64);
        for (var i = 0; i < Cols * Tokens; i++)
        {
            _x[i] = (float)(rng.NextDouble() - 0.5);
        }

        _y = (float*)NativeMemory.AlignedAlloc((nuint)(sizeof(float) * Rows * Tokens), 64);
        _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)(_matrices[0].ActivationRowBytes * Tokens), 64);
        _pool = new WorkerPool(Threads);
        foreach (var m in _matrices)
        {
            m.Interleaved?.Ensure(_pool); // the copy is made once, outside the measurement
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        foreach (var m in _matrices)
        {
            m.Interleaved?.Dispose();
        }

        NativeMemory.AlignedFree(_weights);
        NativeMemory.AlignedFree(_x);
        NativeMemory.AlignedFree(_y);
        NativeMemory.AlignedFree(_scratch);
    }

    [Benchmark]
    public void Multiply()
    {
        var m = _matrices[_next];
        _next = (_next + 1) % _copies;
        MatMul.Multiply(m, _x, Cols, Tokens, _scratch, _y, Rows, _pool!);
    }

    private sealed class Config : BenchmarkConfig
    {
        public Config()
        {
            AddColumn(ThroughputColumn.GigabytesPerSecond);
            AddColumn(ThroughputColumn.GigaflopsPerSecond);
        }
    }
}
