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
/// Causal multi-head attention with grouped KV heads, split across a pool by (token, KV head). A float
/// cache takes scores, softmax and the weighted sum of values in float; a half cache follows ggml's CPU
/// flash attention (see HalfGroup).
/// </summary>
public static unsafe class Attention
{
    /// <summary>Scratch floats one participant needs: scores for every position (float cache) or a chunk of converted keys and values (half cache).</summary>
    public static int ScratchFloats(int capacity, int headDim) => Math.Max(capacity, 2 * Chunk * headDim);

    /// <summary>Positions whose halves are converted at once for every head of a KV group.</summary>
    private const int Chunk = 32;

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
        // Units (token, KV head) are dealt out in turn: later tokens see more positions, so contiguous
        // shares would leave the first participant idle.
        var units = job.Tokens * job.KvHeads;
        var scratch = job.Scratch + ((long)index * ScratchFloats(job.Capacity, job.HeadDimension));
        for (var u = index; u < units; u += count)
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
        if (job.Half)
        {
            HalfGroup(ref job, t, g, n, scratch);
            return;
        }

        var scores = new Span<float>(scratch, n);
        var headOffset = (long)g * job.Capacity * hd;
        for (var h = g * group; h < (g + 1) * group; h++)
        {
            var query = new ReadOnlySpan<float>(job.Queries + ((long)t * job.Heads * hd) + (h * hd), hd);
            var output = new Span<float>(job.Output + ((long)t * job.Heads * hd) + (h * hd), hd);
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
    /// The heads of KV group <paramref name="g"/> for token <paramref name="t"/> over a half cache, in the order
    /// and precision of ggml's CPU flash attention (ggml-cpu/ops.cpp, flash_attn_ext_f16): the query is
    /// rounded to half; each key's score is a sum of float products; softmax is online (running maximum M
    /// and sum S); the value accumulator is a half vector, rounded after every rescale and every multiply-add;
    /// at the end it is divided by S. llama.cpp runs this path by default on CPUs, and greedy text follows
    /// its roundings. Keys and values are converted to floats a chunk of positions at a time, once for all
    /// the group's heads.
    /// </summary>
    [SkipLocalsInit]
    private static void HalfGroup(ref AttentionJob job, int t, int g, int n, float* scratch)
    {
        var hd = job.HeadDimension;
        var group = job.Heads / job.KvHeads;
        var headOffset = (long)g * job.Capacity * hd;
        var keys = (Half*)job.Keys + headOffset;
        var values = (Half*)job.Values + headOffset;
        var kf = scratch;
        var vf = scratch + (Chunk * hd);
        var first = g * group;
        var queries = job.Queries + ((long)t * job.Heads * hd) + (first * hd);
        var outputs = job.Output + ((long)t * job.Heads * hd) + (first * hd);
        Span<float> m = stackalloc float[group];
        Span<float> sum = stackalloc float[group];
        var rescale = stackalloc float[Chunk];
        var weight = stackalloc float[Chunk];
        m.Fill(float.NegativeInfinity);
        sum.Clear();
        new Span<float>(outputs, group * hd).Clear();
        for (var h = 0; h < group; h++)
        {
            HalfAccumulator.RoundAll(queries + (h * hd), queries + (h * hd), hd); // the queries are not needed unrounded again
        }

        for (var p0 = 0; p0 < n; p0 += Chunk)
        {
            var count = Math.Min(Chunk, n - p0);
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(keys + ((long)p0 * hd), count * hd), new Span<float>(kf, count * hd));
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(values + ((long)p0 * hd), count * hd), new Span<float>(vf, count * hd));
            for (var h = 0; h < group; h++)
            {
                // The running maximum and sum first, position by position, leaving each position's factors;
                // then the accumulator, a block of lanes at a time through all the chunk's positions. Every
                // lane sees the same operations in the same order as position-major updates would give it.
                var q = new ReadOnlySpan<float>(queries + (h * hd), hd);
                float mh = m[h], sh = sum[h];
                for (var p = 0; p < count; p++)
                {
                    var s = Dot(q, new ReadOnlySpan<float>(kf + (p * hd), hd)) * job.Scale;
                    float ms = 1, vs = 1;
                    if (s > mh)
                    {
                        ms = ExpOrZero(mh - s);
                        mh = s;
                    }
                    else
                    {
                        vs = ExpOrZero(s - mh);
                    }

                    rescale[p] = ms;
                    weight[p] = vs;
                    sh = MathF.FusedMultiplyAdd(sh, ms, vs);
                }

                m[h] = mh;
                sum[h] = sh;
                HalfAccumulator.Accumulate(outputs + (h * hd), hd, vf, rescale, weight, count);
            }
        }

        for (var h = 0; h < group; h++)
        {
            var output = new Span<float>(outputs + (h * hd), hd);
            TensorPrimitives.Multiply(output, sum[h] == 0 ? 0 : 1 / sum[h], output);
        }
    }

    /// <summary>
    /// expf(x), with x &lt; −104 answered 0 directly: e^−104 is below half the smallest subnormal float, so the C
    /// library's expf gives 0 as well, but through its slow underflow path (it sets errno), which cost several
    /// percent of prefill on models with widely spread attention scores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ExpOrZero(float x) => x < -104f ? 0f : MathF.Exp(x);

    /// <summary>
    /// q·k as ggml_vec_dot_f16 sums it: below 32 values (its SIMD step) every product is added in double;
    /// from 32 on in float lanes (the order of ggml's lanes is not reproduced).
    /// </summary>
    private static float Dot(ReadOnlySpan<float> q, ReadOnlySpan<float> k)
    {
        if (q.Length >= 32)
        {
            return TensorPrimitives.Dot(q, k);
        }

        var dot = 0.0;
        for (var i = 0; i < q.Length; i++)
        {
            dot += q[i] * k[i];
        }

        return (float)dot;
    }
}
