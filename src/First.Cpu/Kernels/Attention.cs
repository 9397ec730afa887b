using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace First.Cpu.Kernels;

/// <summary>One layer's causal attention over a KV cache laid out <c>[kvHeads][capacity][headDim]</c>.</summary>
public unsafe struct AttentionJob
{
    /// <summary>Queries after RoPE, [tokens][heads · headDim].</summary>
    public float* Queries;

    /// <summary>Output, [tokens][heads · headDim].</summary>
    public float* Output;

    /// <summary>The layer's keys.</summary>
    public void* Keys;

    /// <summary>The layer's values.</summary>
    public void* Values;

    /// <summary>Whether keys and values are halves (else floats).</summary>
    public bool Half;

    /// <summary>Positions per head in the cache.</summary>
    public int Capacity;

    /// <summary>Query heads.</summary>
    public int Heads;

    /// <summary>KV heads (divides <see cref="Heads"/>).</summary>
    public int KvHeads;

    /// <summary>Values per head.</summary>
    public int HeadDimension;

    /// <summary>Tokens in the batch; token t sits at position <see cref="StartPosition"/> + t and sees positions 0..that.</summary>
    public int Tokens;

    /// <summary>Position of the first token of the batch.</summary>
    public int StartPosition;

    /// <summary>Score scale, 1/√headDim.</summary>
    public float Scale;

    /// <summary>Per-participant scratch, <see cref="Attention.ScratchFloats"/> floats each.</summary>
    public float* Scratch;
}

/// <summary>
/// Causal multi-head attention with grouped KV heads: scores, softmax, weighted sum of values, split
/// across a pool by (token, KV head). With a half cache the query is rounded to half before the
/// scores, as ggml converts it to the cache's type for the product (ggml_mul_mat / flash_attn_ext);
/// sums are in float.
/// </summary>
public static unsafe class Attention
{
    /// <summary>Scratch floats one participant needs: scores for every position, a query and a key/value row.</summary>
    public static int ScratchFloats(int capacity, int headDim) => capacity + (2 * headDim) + 16;

    /// <summary>Runs <paramref name="job"/> on <paramref name="pool"/>.</summary>
    public static void Run(ref AttentionJob job, WorkerPool pool)
    {
        fixed (AttentionJob* p = &job)
        {
            pool.Run(&RunUnits, p);
        }
    }

    private static void RunUnits(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<AttentionJob>(context);
        var units = job.Tokens * job.KvHeads;
        var start = (int)((long)units * index / count);
        var end = (int)((long)units * (index + 1) / count);
        var scratch = job.Scratch + ((long)index * ScratchFloats(job.Capacity, job.HeadDimension));
        for (var u = start; u < end; u++)
        {
            Unit(ref job, u / job.KvHeads, u % job.KvHeads, scratch);
        }
    }

    [SkipLocalsInit]
    private static void Unit(ref AttentionJob job, int t, int g, float* scratch)
    {
        var hd = job.HeadDimension;
        var n = job.StartPosition + t + 1;
        var group = job.Heads / job.KvHeads;
        var scores = new Span<float>(scratch, n);
        var q = new Span<float>(scratch + job.Capacity, hd);
        var row = new Span<float>(scratch + job.Capacity + hd, hd);
        var headOffset = (long)g * job.Capacity * hd;
        for (var h = g * group; h < (g + 1) * group; h++)
        {
            var query = new ReadOnlySpan<float>(job.Queries + ((long)t * job.Heads * hd) + (h * hd), hd);
            var output = new Span<float>(job.Output + ((long)t * job.Heads * hd) + (h * hd), hd);
            if (job.Half)
            {
                HalfHead(ref job, query, output, q, row, headOffset, n);
                continue;
            }

            var keys = (float*)job.Keys + headOffset;
            for (var p = 0; p < n; p++)
            {
                scores[p] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(keys + ((long)p * hd), hd)) * job.Scale;
            }

            Elementwise.Softmax(scores);
            output.Clear();
            var values = (float*)job.Values + headOffset;
            for (var p = 0; p < n; p++)
            {
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + ((long)p * hd), hd), scores[p], output, output);
            }
        }
    }

    /// <summary>
    /// One head over a half cache, in the order and precision of ggml's CPU flash attention
    /// (ggml-cpu/ops.cpp, flash_attn_ext_f16): the query is rounded to half; each key's score is a sum of
    /// float products; softmax is online (running maximum M and sum S); the value accumulator is a half
    /// vector, rounded after every rescale and every multiply-add; at the end it is divided by S.
    /// llama.cpp runs this path by default on CPUs, and greedy text follows its roundings.
    /// </summary>
    private static void HalfHead(ref AttentionJob job, ReadOnlySpan<float> query, Span<float> output, Span<float> q, Span<float> row, long headOffset, int n)
    {
        var hd = job.HeadDimension;
        var keys = (Half*)job.Keys + headOffset;
        var values = (Half*)job.Values + headOffset;
        RoundToHalf(query, q);
        output.Clear();
        float m = float.NegativeInfinity, sum = 0;
        for (var p = 0; p < n; p++)
        {
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(keys + ((long)p * hd), hd), row);
            var dot = 0.0;
            for (var i = 0; i < hd; i++)
            {
                dot += q[i] * row[i];
            }

            var s = (float)dot * job.Scale;
            float ms = 1, vs = 1;
            if (s > m)
            {
                ms = MathF.Exp(m - s);
                m = s;
                HalfAccumulator.Scale(output, ms);
            }
            else
            {
                vs = MathF.Exp(s - m);
            }

            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(values + ((long)p * hd), hd), row);
            HalfAccumulator.MultiplyAdd(output, row, vs);
            sum = MathF.FusedMultiplyAdd(sum, ms, vs);
        }

        var inverse = sum == 0 ? 0 : 1 / sum;
        TensorPrimitives.Multiply(output, inverse, output);
    }

    private static void RoundToHalf(ReadOnlySpan<float> x, Span<float> y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            y[i] = (float)(Half)x[i];
        }
    }
}
