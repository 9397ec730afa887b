using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using First.Cpu.Quants;

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

    /// <summary>Score scale, 1/√headDim (1 where the queries are scaled already).</summary>
    public float Scale;

    /// <summary>Scores become cap·tanh(s / cap) before the softmax (ggml_flash_attn_ext's logit_softcap); 0 for none.</summary>
    public float Softcap;

    /// <summary>
    /// A sliding window: token t at position p sees positions p − Window + 1 .. p only (llama.cpp's LLAMA_SWA_TYPE_STANDARD
    /// mask, with every position in its own cell as llama_context_default_params' swa_full keeps them); 0 for none.
    /// </summary>
    public int Window;

    /// <summary>Per-participant scratch, <see cref="Attention.ScratchFloats"/> floats each.</summary>
    public float* Scratch;

    /// <summary>
    /// Tokens at the start of the batch that llama.cpp computes with ggml's tiled kernel (<see cref="Attention.TiledTokens"/>);
    /// the others take its one-row path.
    /// </summary>
    public int TiledTokens;

    /// <summary>llama.cpp's n_kv: the cells of its attention view (<see cref="Attention.ViewCells"/>); 0 when no split is wanted.</summary>
    public int ViewCells;

    /// <summary>
    /// The threads llama.cpp splits one token's cells across when the view has 512 cells or more (its split-KV decode
    /// path): the cells in that many equal chunks, reduced afterwards. 1 or less: no split.
    /// </summary>
    public int KvSplits;

    /// <summary>Room for the split path's partial results, <see cref="Attention.PartialFloats"/> floats.</summary>
    public float* Partials;
}

/// <summary>
/// Causal multi-head attention with grouped KV heads, split across a pool by (token, KV head). A float
/// cache takes scores, softmax and the weighted sum of values in float; a half cache follows ggml's CPU
/// flash attention (see HalfGroup).
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>Scratch floats one participant needs: scores for every position (float cache) or a tile of converted keys and values (half cache).</summary>
    public static int ScratchFloats(int capacity, int headDim) => Math.Max(capacity, 2 * TileCells * headDim);

    /// <summary>
    /// Floats <see cref="AttentionJob.Partials"/> needs for <paramref name="heads"/> heads split <paramref name="splits"/> ways:
    /// per chunk, [heads][headDim] accumulators, then [heads] maxima, then [heads] sums.
    /// </summary>
    public static long PartialFloats(int heads, int splits, int headDim) => (long)heads * Math.Max(splits, 1) * (2 + headDim);

    /// <summary>Positions whose halves are converted at once for every head of a KV group.</summary>
    private const int Chunk = 32;

    /// <summary>Runs <paramref name="job"/> on <paramref name="pool"/>.</summary>
    public static void Run(ref AttentionJob job, WorkerPool pool)
    {
        fixed (AttentionJob* p = &job)
        {
            if (Splits(ref job))
            {
                RunSplit(p, pool);
                return;
            }

            pool.Run(&RunUnits, p);
        }
    }

    private static void RunUnits(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<AttentionJob>(context);
        // Units (token, KV head) are dealt out in turn: later tokens see more positions, so contiguous
        // shares would leave the first participant idle. Tiled tokens come in blocks that share each tile's conversion.
        var tiled = job.Half && Tiles(job.HeadDimension) ? job.TiledTokens : 0;
        var blocks = (tiled + TileBlock - 1) / TileBlock;
        var units = (blocks + job.Tokens - tiled) * job.KvHeads;
        var scratch = job.Scratch + ((long)index * ScratchFloats(job.Capacity, job.HeadDimension));
        for (var u = index; u < units; u += count)
        {
            int unit = u / job.KvHeads, g = u % job.KvHeads;
            if (unit < blocks)
            {
                TiledBlock(ref job, unit * TileBlock, Math.Min((unit + 1) * TileBlock, tiled), g, scratch);
            }
            else
            {
                Unit(ref job, tiled + unit - blocks, g, scratch);
            }
        }
    }

    /// <summary>The first position a token at <paramref name="pos"/> sees: 0, or the start of its sliding window.</summary>
    private static int FirstVisible(ref AttentionJob job, int pos) => job.Window > 0 ? Math.Max(0, pos - job.Window + 1) : 0;

    /// <summary>The scale of the dot products: with a soft-cap, scale / cap, as flash_attn_ext divides it before the tanh.</summary>
    private static float DotScale(ref AttentionJob job) => job.Softcap != 0 ? job.Scale / job.Softcap : job.Scale;

    /// <summary>s = cap · tanhf(s) for <paramref name="count"/> scores (nothing without a cap).</summary>
    private static void Cap(float* scores, int count, float cap)
    {
        if (cap == 0)
        {
            return;
        }

        for (var i = 0; i < count; i++)
        {
            scores[i] = cap * MathF.Tanh(scores[i]);
        }
    }

    [SkipLocalsInit]
    private static void Unit(ref AttentionJob job, int t, int g, float* scratch)
    {
        var hd = job.HeadDimension;
        var n = job.StartPosition + t + 1;
        var lo = FirstVisible(ref job, n - 1);
        var group = job.Heads / job.KvHeads;
        if (job.Half)
        {
            HalfGroup(ref job, t, g, lo, n, scratch, job.Output + ((long)t * job.Heads * hd) + (g * group * hd), null);
            return;
        }

        var scores = new Span<float>(scratch, n - lo);
        var headOffset = (long)g * job.Capacity * hd;
        var scale = DotScale(ref job);
        for (var h = g * group; h < (g + 1) * group; h++)
        {
            var query = new ReadOnlySpan<float>(job.Queries + ((long)t * job.Heads * hd) + (h * hd), hd);
            var output = new Span<float>(job.Output + ((long)t * job.Heads * hd) + (h * hd), hd);
            var keys = (float*)job.Keys + headOffset;
            for (var p = lo; p < n; p++)
            {
                scores[p - lo] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(keys + ((long)p * hd), hd)) * scale;
            }

            Cap(scratch, n - lo, job.Softcap);
            Elementwise.Softmax(scores);
            output.Clear();
            var values = (float*)job.Values + headOffset;
            for (var p = lo; p < n; p++)
            {
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + ((long)p * hd), hd), scores[p - lo], output, output);
            }
        }
    }

    /// <summary>
    /// The heads of KV group <paramref name="g"/> for token <paramref name="t"/> over a half cache, in the order
    /// and precision of ggml's CPU flash attention (ggml-cpu/ops.cpp, flash_attn_ext_f16): the query is
    /// rounded to half; each key's score is ggml_vec_dot_f16 of the two (<see cref="Scores"/>); softmax is online
    /// (running maximum M and sum S); the value accumulator is a half vector, rounded after every rescale and
    /// every multiply-add; at the end it is divided by S. llama.cpp runs this path by default on CPUs, and greedy
    /// text follows its roundings. A chunk of positions at a time: its keys and values are converted to floats
    /// once for all the group's heads, each head's scores and softmax factors are taken for the whole chunk, and
    /// the accumulators are then updated for all heads together (<see cref="HalfAccumulator.AccumulateHeads"/>).
    /// </summary>
    /// <remarks>
    /// Positions <paramref name="from"/>..<paramref name="to"/> − 1 only; into <paramref name="outputs"/> (the group's
    /// heads, hd apart). With <paramref name="maxima"/> (the split path) the accumulators stay unscaled and each head's
    /// running maximum M and sum S go to maxima[h] and maxima[heads + h] (h within the group); the queries must then
    /// already be rounded.
    /// </remarks>
    [SkipLocalsInit]
    private static void HalfGroup(ref AttentionJob job, int t, int g, int from, int to, float* scratch, float* outputs, float* maxima)
    {
        var hd = job.HeadDimension;
        var group = job.Heads / job.KvHeads;
        var headOffset = (long)g * job.Capacity * hd;
        var keys = (ushort*)job.Keys + headOffset;
        var values = (ushort*)job.Values + headOffset;
        var kf = scratch;
        var vf = scratch + (Chunk * hd);
        var first = g * group;
        var queries = job.Queries + ((long)t * job.Heads * hd) + (first * hd);
        Span<float> m = stackalloc float[group];
        Span<float> sum = stackalloc float[group];
        var rescale = stackalloc float[Chunk * group];
        var weight = stackalloc float[Chunk * group];
        m.Fill(float.NegativeInfinity);
        sum.Clear();
        new Span<float>(outputs, group * hd).Clear();
        if (maxima == null)
        {
            for (var h = 0; h < group; h++)
            {
                HalfAccumulator.RoundAll(queries + (h * hd), queries + (h * hd), hd); // the queries are not needed unrounded again
            }
        }

        for (var p0 = from; p0 < to; p0 += Chunk)
        {
            var count = Math.Min(Chunk, to - p0);
            Fp16.ToFloats(keys + ((long)p0 * hd), kf, count * hd);
            Fp16.ToFloats(values + ((long)p0 * hd), vf, count * hd);
            for (var h = 0; h < group; h++)
            {
                // Each position's factors from the running maximum and sum, in position order; the scores are
                // written where the value weights go and replaced one by one.
                var rs = rescale + (h * Chunk);
                var ws = weight + (h * Chunk);
                Scores(queries + (h * hd), kf, count, hd, DotScale(ref job), ws);
                Cap(ws, count, job.Softcap);
                float mh = m[h], sh = sum[h];
                for (var p = 0; p < count; p++)
                {
                    var s = ws[p];
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

                    rs[p] = ms;
                    ws[p] = vs;
                    sh = MathF.FusedMultiplyAdd(sh, ms, vs);
                }

                m[h] = mh;
                sum[h] = sh;
            }

            HalfAccumulator.AccumulateHeads(outputs, hd, vf, rescale, weight, Chunk, count, group);
        }

        for (var h = 0; h < group; h++)
        {
            var output = new Span<float>(outputs + (h * hd), hd);
            if (maxima != null)
            {
                maxima[h] = m[h];
                maxima[job.Heads + h] = sum[h];
                continue;
            }

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
    /// scores[p] = (q · k_p) · scale for <paramref name="count"/> keys of <paramref name="n"/> floats each (halves, widened
    /// exactly), summed as ggml_vec_dot_f16 sums them in the build of <see cref="GgmlOrders.Current"/> (see F16.DotVector).
    /// AVX-512: value i in lane i mod 64 by fused multiply-adds while whole steps of 64 remain, the lanes folded as its
    /// reduction folds them, and the last n mod 64 products added one by one in double; sixteen-lane vectors where the
    /// host has them, four-lane quarters elsewhere, both giving the same bits. AVX2: <see cref="ScoresAvx2"/>.
    /// </summary>
    private static void Scores(float* q, float* keys, int count, int n, float scale, float* scores)
    {
        if (GgmlOrders.Current == GgmlOrder.Avx2)
        {
            ScoresAvx2(q, keys, count, n, scale, scores);
            return;
        }

        if (Vector512.IsHardwareAccelerated && n % 64 == 0)
        {
            Scores512(q, keys, count, n, scale, scores);
            return;
        }

        var np = n & ~63;
        for (var p = 0; p < count; p++)
        {
            var k = keys + ((long)p * n);
            double sum = np == 0 ? 0 : Fold(
                (Quarter(q, k, np, 0) + Quarter(q, k, np, 8)) + (Quarter(q, k, np, 4) + Quarter(q, k, np, 12)),
                (Quarter(q, k, np, 1) + Quarter(q, k, np, 9)) + (Quarter(q, k, np, 5) + Quarter(q, k, np, 13)),
                (Quarter(q, k, np, 2) + Quarter(q, k, np, 10)) + (Quarter(q, k, np, 6) + Quarter(q, k, np, 14)),
                (Quarter(q, k, np, 3) + Quarter(q, k, np, 11)) + (Quarter(q, k, np, 7) + Quarter(q, k, np, 15)));
            for (var i = np; i < n; i++)
            {
                sum += k[i] * q[i];
            }

            scores[p] = (float)sum * scale;
        }
    }

    /// <summary>Lanes 4j..4j+3 of ggml's 64 accumulator lanes: the products of values 4j.. of each step of 64, fused in turn.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Quarter(float* q, float* k, int np, int j)
    {
        var acc = Vector128<float>.Zero;
        for (var i = 4 * j; i < np; i += 64)
        {
            acc = Vector128.FusedMultiplyAdd(Vector128.Load(k + i), Vector128.Load(q + i), acc);
        }

        return acc;
    }

    /// <summary>
    /// The sixteen lanes of ggml's folded accumulator (quarters <paramref name="q0"/>..<paramref name="q3"/>) summed as
    /// GCC's _mm512_reduce_add_ps does: halves, then quarters, then (0 + 2) + (1 + 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Fold(Vector128<float> q0, Vector128<float> q1, Vector128<float> q2, Vector128<float> q3)
    {
        return F16.ReduceAdd4((q3 + q1) + (q2 + q0));
    }

    /// <summary><see cref="Scores"/> with 512-bit vectors (x86: Vector512 is accelerated only there), n a multiple of 64: four keys' last folds are done together.</summary>
    [SkipLocalsInit]
    private static void Scores512(float* q, float* keys, int count, int n, float scale, float* scores)
    {
        var p = 0;
        for (; p + 4 <= count; p += 4)
        {
            var k = keys + ((long)p * n);
            var t0 = Lanes512(q, k, n);
            var t1 = Lanes512(q, k + n, n);
            var t2 = Lanes512(q, k + (2 * n), n);
            var t3 = Lanes512(q, k + (3 * n), n);
            // Transposed, lane j of c_i is element i of key j's four lanes: (c0 + c2) + (c1 + c3) is each key's last fold.
            var u0 = Sse.UnpackLow(t0, t1);
            var u1 = Sse.UnpackHigh(t0, t1);
            var u2 = Sse.UnpackLow(t2, t3);
            var u3 = Sse.UnpackHigh(t2, t3);
            var c0 = Sse.MoveLowToHigh(u0, u2);
            var c1 = Sse.MoveHighToLow(u2, u0);
            var c2 = Sse.MoveLowToHigh(u1, u3);
            var c3 = Sse.MoveHighToLow(u3, u1);
            (((c0 + c2) + (c1 + c3)) * Vector128.Create(scale)).Store(scores + p);
        }

        for (; p < count; p++)
        {
            scores[p] = F16.ReduceAdd4(Lanes512(q, keys + ((long)p * n), n)) * scale;
        }
    }

    /// <summary>One key's four lanes before the last fold: four sixteen-lane accumulators, 0 + 2, 1 + 3, 0 + 1, then halves and quarters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Lanes512(float* q, float* k, int n)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (var i = 0; i < n; i += 64)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(k + i), Vector512.Load(q + i), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(k + i + 16), Vector512.Load(q + i + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(k + i + 32), Vector512.Load(q + i + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(k + i + 48), Vector512.Load(q + i + 48), a3);
        }

        var s = (a0 + a2) + (a1 + a3);
        var h = s.GetUpper() + s.GetLower();
        return h.GetUpper() + h.GetLower();
    }

    /// <summary>
    /// <see cref="Scores"/> in the AVX2 build's order: four eight-lane accumulators take 32 values per step (value i in
    /// accumulator (i mod 32) / 8, lane i mod 8), are added 0 + 2, 1 + 3, then 0 + 1, and GGML_F32x8_REDUCE folds the
    /// lanes (<see cref="F16.ReduceAdd8"/>); the last n mod 32 products are added one by one in double.
    /// </summary>
    private static void ScoresAvx2(float* q, float* keys, int count, int n, float scale, float* scores)
    {
        var np = n & ~31;
        for (var p = 0; p < count; p++)
        {
            var k = keys + ((long)p * n);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var i = 0; i < np; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(k + i), Vector256.Load(q + i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(k + i + 8), Vector256.Load(q + i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(k + i + 16), Vector256.Load(q + i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(k + i + 24), Vector256.Load(q + i + 24), a3);
            }

            double sum = np == 0 ? 0 : F16.ReduceAdd8((a0 + a2) + (a1 + a3));
            for (var i = np; i < n; i++)
            {
                sum += k[i] * q[i];
            }

            scores[p] = (float)sum * scale;
        }
    }
}
