using System.Runtime.CompilerServices;
using First.Cpu.Quants;

namespace First.Cpu.Kernels;

/// <summary>
/// Matrix products over <see cref="QuantMatrix"/>, split by rows across a <see cref="WorkerPool"/>.
/// Inputs are first quantized to the matrix's activation format (once per input row, on the caller's
/// thread); then every output is one call of the chosen dot kernel. Nothing is allocated.
/// </summary>
public static unsafe partial class MatMul
{
    /// <summary>Rows per tile of the matrix × tokens loop.</summary>
    private const int RowTile = 32;

    /// <summary>Groups of eight rows per tile of the interleaved loop.</summary>
    private const int GroupTile = 2;

    /// <summary>Quantizes <paramref name="tokens"/> input rows (each Cols floats, <paramref name="xStride"/> apart) into <paramref name="buffer"/>.</summary>
    public static void QuantizeInputs(in QuantMatrix w, float* x, int xStride, int tokens, byte* buffer)
    {
        var bytes = w.ActivationRowBytes;
        for (var t = 0; t < tokens; t++)
        {
            w.Quantizer.Quantize(x + ((long)t * xStride), buffer + ((long)t * bytes), w.Cols);
        }
    }

    /// <summary>As <see cref="QuantizeInputs(in QuantMatrix, float*, int, int, byte*)"/>, the rows split across <paramref name="pool"/> when there are several.</summary>
    public static void QuantizeInputs(in QuantMatrix w, float* x, int xStride, int tokens, byte* buffer, WorkerPool pool)
    {
        if (tokens < 2 * pool.Threads)
        {
            QuantizeInputs(w, x, xStride, tokens, buffer);
            return;
        }

        var job = new QuantizeJob(w.Quantizer.Quantize, x, xStride, tokens, buffer, w.ActivationRowBytes, w.Cols);
        pool.Run(&RunQuantize, &job);
    }

    /// <summary>
    /// y[t][r] = W[r] · x[t] for <paramref name="tokens"/> inputs already quantized in <paramref name="xq"/>
    /// (<see cref="QuantMatrix.ActivationRowBytes"/> apart); outputs <paramref name="yStride"/> floats apart.
    /// Each participant takes a contiguous block of rows and runs every token through a row while it is in cache.
    /// </summary>
    [SkipLocalsInit]
    public static void Multiply(in QuantMatrix w, byte* xq, int tokens, float* y, int yStride, WorkerPool pool)
    {
        if (w.Interleaved is { } interleaved)
        {
            var groups = new GroupJob(interleaved, interleaved.Ensure(pool), w.Cols, xq, w.ActivationRowBytes, tokens, y, yStride);
            pool.Run(&RunGroups, &groups);
            return;
        }

        var job = new Job(w, xq, tokens, y, yStride);
        pool.Run(&RunRows, &job);
    }

    /// <summary>Quantizes the inputs into <paramref name="scratch"/> and multiplies: the usual entry point.</summary>
    public static void Multiply(in QuantMatrix w, float* x, int xStride, int tokens, byte* scratch, float* y, int yStride, WorkerPool pool)
    {
        QuantizeInputs(w, x, xStride, tokens, scratch, pool);
        Multiply(w, scratch, tokens, y, yStride, pool);
    }

    [SkipLocalsInit]
    private static void RunRows(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<Job>(context);
        var (start, end) = Split(job.Rows, index, count);
        var dot = job.Dot;
        var dot4 = job.Dot4;
        var cols = job.Cols;
        var four = stackalloc float[4];
        var grouped = dot4 == null ? 0 : job.Tokens & ~3;

        // Tiles of rows × four tokens: the tile's rows (a few tens of KiB) stay in L2 while every group of
        // four tokens passes over them, and a group's activations stay in L1 across the tile.
        for (var tile = start; tile < end; tile += RowTile)
        {
            var tileEnd = Math.Min(tile + RowTile, end);
            for (var t = 0; t < grouped; t += 4)
            {
                var x = job.Inputs + ((long)t * job.InputBytes);
                for (var r = tile; r < tileEnd; r++)
                {
                    dot4(job.Weights + ((long)r * job.RowBytes), x, job.InputBytes, cols, four);
                    var y = job.Outputs + r + ((long)t * job.OutputStride);
                    for (var k = 0; k < 4; k++, y += job.OutputStride)
                    {
                        *y = four[k];
                    }
                }
            }

            for (var r = tile; r < tileEnd; r++)
            {
                var row = job.Weights + ((long)r * job.RowBytes);
                var x = job.Inputs + ((long)grouped * job.InputBytes);
                var y = job.Outputs + r + ((long)grouped * job.OutputStride);
                for (var t = grouped; t < job.Tokens; t++, x += job.InputBytes, y += job.OutputStride)
                {
                    *y = dot(row, x, cols);
                }
            }
        }
    }

    /// <summary>
    /// The interleaved path: each participant takes a contiguous run of groups of eight rows; tiles of
    /// <see cref="GroupTile"/> groups (a few tens of KiB) stay in L2 while the tokens pass over them eight at a
    /// time where the kernel has <see cref="InterleavedKernel.Dot8Pair"/>, then four at a time, two groups per
    /// call where that pays (<see cref="InterleavedKernel.PairsPay"/>).
    /// </summary>
    private static void RunGroups(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<GroupJob>(context);
        var (start, end) = WorkerPool.Share(job.Groups, index, count);
        var eights = job.Dot8Pair != null ? job.Tokens & ~7 : 0;
        var grouped = job.Tokens & ~3;
        for (var tile = start; tile < end; tile += GroupTile)
        {
            var tileEnd = Math.Min(tile + GroupTile, end);
            var t = 0;
            for (; t < eights; t += 8)
            {
                var x = job.Inputs + ((long)t * job.InputBytes);
                var y = job.Outputs + ((long)t * job.OutputStride);
                var g = tile;
                for (; g + 1 < tileEnd; g += 2)
                {
                    job.Dot8Pair(job.Data + (g * job.GroupBytes), job.GroupBytes, x, job.InputBytes, job.Cols, y + (g * Interleaved8.Rows), job.OutputStride);
                }

                for (; g < tileEnd; g++)
                {
                    job.Dot4(job.Data + (g * job.GroupBytes), x, job.InputBytes, job.Cols, y + (g * Interleaved8.Rows), job.OutputStride);
                    job.Dot4(job.Data + (g * job.GroupBytes), x + (4L * job.InputBytes), job.InputBytes, job.Cols, y + (g * Interleaved8.Rows) + (4L * job.OutputStride), job.OutputStride);
                }
            }

            for (; t < grouped; t += 4)
            {
                var x = job.Inputs + ((long)t * job.InputBytes);
                var y = job.Outputs + ((long)t * job.OutputStride);
                var g = tile;
                for (; job.Dot4Pair != null && g + 1 < tileEnd; g += 2)
                {
                    job.Dot4Pair(job.Data + (g * job.GroupBytes), job.GroupBytes, x, job.InputBytes, job.Cols, y + (g * Interleaved8.Rows), job.OutputStride);
                }

                for (; g < tileEnd; g++)
                {
                    job.Dot4(job.Data + (g * job.GroupBytes), x, job.InputBytes, job.Cols, y + (g * Interleaved8.Rows), job.OutputStride);
                }
            }

            for (; t < job.Tokens; t++)
            {
                var x = job.Inputs + ((long)t * job.InputBytes);
                var y = job.Outputs + ((long)t * job.OutputStride);
                for (var g = tile; g < tileEnd; g++)
                {
                    job.Dot(job.Data + (g * job.GroupBytes), x, job.Cols, y + (g * Interleaved8.Rows));
                }
            }
        }
    }

    private static void RunQuantize(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<QuantizeJob>(context);
        var (start, end) = WorkerPool.Share(job.Tokens, index, count);
        for (var t = start; t < end; t++)
        {
            job.Quantize(job.Inputs + ((long)t * job.InputStride), job.Output + ((long)t * job.OutputBytes), job.Cols);
        }
    }

    /// <summary>Participant <paramref name="index"/>'s share of <paramref name="rows"/> rows, in multiples of 8 rows.</summary>
    internal static (int Start, int End) Split(int rows, int index, int count)
    {
        var (start, end) = WorkerPool.Share((rows + 7) / 8, index, count);
        return (Math.Min(start * 8, rows), Math.Min(end * 8, rows));
    }

    private readonly struct GroupJob(InterleavedRows rows, byte* data, int cols, byte* xq, int inputBytes, int tokens, float* y, int yStride)
    {
        public readonly byte* Data = data;
        public readonly int Groups = rows.Groups;
        public readonly long GroupBytes = rows.GroupBytes;
        public readonly int Cols = cols;
        public readonly delegate*<byte*, byte*, int, float*, void> Dot = rows.Kernel.Dot;
        public readonly delegate*<byte*, byte*, int, int, float*, int, void> Dot4 = rows.Kernel.Dot4;
        public readonly delegate*<byte*, long, byte*, int, int, float*, int, void> Dot4Pair = rows.Kernel.PairsPay ? rows.Kernel.Dot4Pair : null;
        public readonly delegate*<byte*, long, byte*, int, int, float*, int, void> Dot8Pair = rows.Kernel.Dot8Pair;
        public readonly byte* Inputs = xq;
        public readonly int InputBytes = inputBytes;
        public readonly int Tokens = tokens;
        public readonly float* Outputs = y;
        public readonly int OutputStride = yStride;
    }

    private readonly struct QuantizeJob(delegate*<float*, void*, int, void> quantize, float* x, int xStride, int tokens, byte* output, int outputBytes, int cols)
    {
        public readonly delegate*<float*, void*, int, void> Quantize = quantize;
        public readonly float* Inputs = x;
        public readonly int InputStride = xStride;
        public readonly int Tokens = tokens;
        public readonly byte* Output = output;
        public readonly int OutputBytes = outputBytes;
        public readonly int Cols = cols;
    }

    private readonly struct Job(in QuantMatrix w, byte* xq, int tokens, float* y, int yStride)
    {
        public readonly byte* Weights = w.Data;
        public readonly int Rows = w.Rows;
        public readonly int Cols = w.Cols;
        public readonly int RowBytes = w.RowBytes;
        public readonly delegate*<void*, void*, int, float> Dot = w.Kernel.Dot;
        public readonly delegate*<void*, void*, int, int, float*, void> Dot4 = w.Kernel.Dot4;
        public readonly byte* Inputs = xq;
        public readonly int InputBytes = w.ActivationRowBytes;
        public readonly int Tokens = tokens;
        public readonly float* Outputs = y;
        public readonly int OutputStride = yStride;
    }
}
