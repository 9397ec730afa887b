using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;

namespace First.Benchmarks;

/// <summary>
/// Products with a TinyLlama feed-forward matrix (5632 rows × 2048 columns) for every runnable kernel of the
/// formats measured: <see cref="MatVecBenchmark"/> (decode-shaped, GB/s of weights streamed) and
/// <see cref="MatMulBenchmark"/> (prefill-shaped, GFLOP/s). With one token the product cycles through copies of the
/// matrix that together exceed the caches, so every weight byte comes from memory, as in real decoding.
/// </summary>
public abstract unsafe class ProductBenchmark : IThroughput
{
    private const int Rows = 5632;
    private const int Cols = 2048;
    private const long CopyBytesTarget = 768L << 20;

    private byte* _weights;
    private long _bytes;
    private int _copies;
    private int _next;
    private QuantMatrix[] _matrices = [];
    private float* _x;
    private float* _y;
    private byte* _scratch;
    private WorkerPool? _pool;

    /// <summary>A format and a path, e.g. "Q4_0 AvxVnni" (row by row) or "Q4_0 Avx512+Avx2 8-row" (<see cref="Interleaved8"/>, rows in eights).</summary>
    public abstract string Kernel { get; set; }

    [Params(2)]
    public int Threads { get; set; } = 2;

    /// <summary>Tokens per product.</summary>
    public abstract int Tokens { get; set; }

    /// <summary>The matrix's bytes in memory, as the product reads them (rows in eights: the interleaved copy).</summary>
    public long MatrixBytes => _bytes;

    /// <summary>Copies of the matrix the one-token product cycles through (one full cycle streams <see cref="MatrixBytes"/> × this).</summary>
    public int Copies => _copies;

    /// <summary>The pool the products run on.</summary>
    protected WorkerPool Pool => _pool!;

    /// <summary>
    /// Every runnable accelerated kernel of the formats measured: row-by-row paths, then interleaved ones; with
    /// <paramref name="prefill"/> false, not the AVX-512 ones, which multiply one token with their row path's kernel.
    /// </summary>
    protected static IEnumerable<string> KernelsFor(bool prefill) =>
        new[] { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q6_K }.SelectMany(type =>
            KernelRegistry.AllDots.Where(k => k.Type == type && k.IsSupported && k.Path != KernelPath.Scalar).Select(k => $"{type} {k.Path}")
                .Concat(KernelRegistry.AllInterleaved.Where(k => k.Type == type && k.IsSupported && (prefill || k.AlsoNeeds is null))
                    .Select(k => $"{type} {PathOf(k)} 8-row")));

    /// <summary>The path as the case names it: "Avx2", or "Avx512+Avx2" for a kernel that also needs a second path.</summary>
    private static string PathOf(InterleavedKernel k) => k.AlsoNeeds is { } also ? $"{k.Path}+{also}" : $"{k.Path}";

    private GgmlType Type => Enum.Parse<GgmlType>(Kernel.Split(' ')[0]);

    private string Path => Kernel.Split(' ')[1];

    public double BytesPerOperation => Tokens == 1 ? QuantFormats.Get(Type).RowBytes(Cols) * (double)Rows : 0;

    public double FlopsPerOperation => 2.0 * Rows * Cols * Tokens;

    [GlobalSetup]
    public void Setup()
    {
        var type = Type;
        var format = QuantFormats.Get(type);
        var bytes = _bytes = (long)format.RowBytes(Cols) * Rows;
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

        var interleaved = Kernel.EndsWith(" 8-row", StringComparison.Ordinal);
        _matrices = [.. Enumerable.Range(0, _copies).Select(c => new QuantMatrix(_weights + (c * bytes), type, Rows, Cols))
            .Select(m => interleaved
                ? m.WithInterleavedKernel(KernelRegistry.AllInterleaved.First(k => k.Type == type && PathOf(k) == Path))
                : m.WithKernel(KernelRegistry.AllDots.First(k => k.Type == type && $"{k.Path}" == Path)))];
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

    /// <summary>A product with copy 0 only: repeated, its bytes stay in the last-level cache (the kernel's own ceiling).</summary>
    public void MultiplyFirstCopy() => MatMul.Multiply(_matrices[0], _x, Cols, Tokens, _scratch, _y, Rows, _pool!);

    /// <summary>The bytes the next <see cref="Multiply"/> would read (the copy's interleaved bytes for rows in eights); advances as it does.</summary>
    protected byte* NextMatrix()
    {
        var m = _matrices[_next];
        var data = m.Interleaved is { } copy ? copy.Ensure(_pool!) : _weights + (_next * _bytes);
        _next = (_next + 1) % _copies;
        return data;
    }
}
