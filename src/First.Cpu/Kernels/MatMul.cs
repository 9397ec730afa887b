using System.Runtime.CompilerServices;

namespace First.Cpu.Kernels;

/// <summary>
/// Matrix products over <see cref="QuantMatrix"/>, split by rows across a <see cref="WorkerPool"/>.
/// Inputs are first quantized to the matrix's activation format (once per input row, on the caller's
/// thread); then every output is one call of the chosen dot kernel. Nothing is allocated.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>Quantizes <paramref name="tokens"/> input rows (each Cols floats, <paramref name="xStride"/> apart) into <paramref name="buffer"/>.</summary>
    public static void QuantizeInputs(in QuantMatrix w, float* x, int xStride, int tokens, byte* buffer)
    {
        var bytes = w.ActivationRowBytes;
        for (var t = 0; t < tokens; t++)
        {
            w.Quantizer.Quantize(x + ((long)t * xStride), buffer + ((long)t * bytes), w.Cols);
        }
    }

    /// <summary>
    /// y[t][r] = W[r] · x[t] for <paramref name="tokens"/> inputs already quantized in <paramref name="xq"/>
    /// (<see cref="QuantMatrix.ActivationRowBytes"/> apart); outputs <paramref name="yStride"/> floats apart.
    /// Each participant takes a contiguous block of rows and runs every token through a row while it is in cache.
    /// </summary>
    [SkipLocalsInit]
    public static void Multiply(in QuantMatrix w, byte* xq, int tokens, float* y, int yStride, WorkerPool pool)
    {
        var job = new Job(w, xq, tokens, y, yStride);
        pool.Run(&RunRows, &job);
    }

    /// <summary>Quantizes the inputs into <paramref name="scratch"/> and multiplies: the usual entry point.</summary>
    public static void Multiply(in QuantMatrix w, float* x, int xStride, int tokens, byte* scratch, float* y, int yStride, WorkerPool pool)
    {
        QuantizeInputs(w, x, xStride, tokens, scratch);
        Multiply(w, scratch, tokens, y, yStride, pool);
    }

    private static void RunRows(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<Job>(context);
        var (start, end) = Split(job.Rows, index, count);
        var dot = job.Dot;
        var cols = job.Cols;
        for (var r = start; r < end; r++)
        {
            var row = job.Weights + ((long)r * job.RowBytes);
            var x = job.Inputs;
            var y = job.Outputs + r;
            for (var t = 0; t < job.Tokens; t++, x += job.InputBytes, y += job.OutputStride)
            {
                *y = dot(row, x, cols);
            }
        }
    }

    /// <summary>Participant <paramref name="index"/>'s share of <paramref name="rows"/> rows, in multiples of 8 rows.</summary>
    internal static (int Start, int End) Split(int rows, int index, int count)
    {
        var groups = (rows + 7) / 8;
        var start = (int)((long)groups * index / count) * 8;
        var end = (int)((long)groups * (index + 1) / count) * 8;
        return (Math.Min(start, rows), Math.Min(end, rows));
    }

    private readonly struct Job(in QuantMatrix w, byte* xq, int tokens, float* y, int yStride)
    {
        public readonly byte* Weights = w.Data;
        public readonly int Rows = w.Rows;
        public readonly int Cols = w.Cols;
        public readonly int RowBytes = w.RowBytes;
        public readonly delegate*<void*, void*, int, float> Dot = w.Kernel.Dot;
        public readonly byte* Inputs = xq;
        public readonly int InputBytes = w.ActivationRowBytes;
        public readonly int Tokens = tokens;
        public readonly float* Outputs = y;
        public readonly int OutputStride = yStride;
    }
}
