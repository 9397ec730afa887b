using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace First.Cpu.Kernels;

/// <summary>The product with a transposed matrix, which back-propagation through a frozen projection needs.</summary>
public static unsafe partial class MatMul
{
    /// <summary>Most columns a participant dequantizes at once (one K-quant block, eight Q4_0/Q8_0 blocks).</summary>
    private const int ColumnChunk = 256;

    /// <summary>
    /// x[t][c] += Σ_r g[t][r] · W[r][c] for <paramref name="tokens"/> rows of <paramref name="g"/> ([tokens][Rows])
    /// into <paramref name="x"/> ([tokens][Cols]). Weights are dequantized on the fly, a chunk of a row at a time,
    /// and each chunk serves every token while it is in L1; participants take disjoint column ranges, so the sum
    /// order, and the result, do not depend on timing.
    /// </summary>
    public static void MultiplyTransposedAdd(in QuantMatrix w, float* g, int tokens, float* x, WorkerPool pool)
    {
        var job = new TransposedJob
        {
            Weights = w.Data,
            Rows = w.Rows,
            Cols = w.Cols,
            RowBytes = w.RowBytes,
            BlockSize = w.Format.Info.BlockSize,
            BlockBytes = w.Format.Info.BytesPerBlock,
            Dequantize = w.Format.Dequantize,
            Gradients = g,
            Tokens = tokens,
            Outputs = x,
        };
        pool.Run(&RunColumns, &job);
    }

    [SkipLocalsInit]
    private static void RunColumns(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<TransposedJob>(context);
        var blocks = job.Cols / job.BlockSize;
        var (first, last) = WorkerPool.Share(blocks, index, count);
        var chunkBlocks = Math.Max(1, ColumnChunk / job.BlockSize);
        var buffer = stackalloc float[Math.Max(ColumnChunk, job.BlockSize)];
        for (var b = first; b < last; b += chunkBlocks)
        {
            var n = Math.Min(chunkBlocks, last - b) * job.BlockSize;
            var column = b * job.BlockSize;
            var chunk = new ReadOnlySpan<float>(buffer, n);
            for (var r = 0; r < job.Rows; r++)
            {
                job.Dequantize(job.Weights + ((long)r * job.RowBytes) + ((long)b * job.BlockBytes), buffer, n);
                for (var t = 0; t < job.Tokens; t++)
                {
                    var coefficient = job.Gradients[((long)t * job.Rows) + r];
                    if (coefficient != 0)
                    {
                        var y = new Span<float>(job.Outputs + ((long)t * job.Cols) + column, n);
                        TensorPrimitives.MultiplyAdd(chunk, coefficient, y, y);
                    }
                }
            }
        }
    }

    private struct TransposedJob
    {
        public byte* Weights;
        public int Rows;
        public int Cols;
        public int RowBytes;
        public int BlockSize;
        public int BlockBytes;
        public delegate*<void*, float*, int, void> Dequantize;
        public float* Gradients;
        public int Tokens;
        public float* Outputs;
    }
}
