using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using First.Cpu.Quants;

namespace First.Cpu.Kernels;

/// <summary>
/// The two other paths of ggml's CPU flash attention over a half cache (ggml-cpu/ops.cpp,
/// ggml_compute_forward_flash_attn_ext_f16), which llama.cpp takes by the shape of the call, so that greedy
/// text follows llama.cpp beyond short prompts too:
/// <list type="bullet">
/// <item>the tiled kernel (flash_attn_ext_tiled) when a llama_decode ubatch has 64 queries or more: float queries,
/// 64-cell tiles of keys and values, scores and value sums as one fused chain each, ggml's own vector e^x;</item>
/// <item>the split-KV path for one query over a view of 512 cells or more: the cells in one chunk per thread, each
/// the one-row path unnormalised, the chunks combined by their maxima and sums.</item>
/// </list>
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>Query rows and cells of one tile (ggml-cpu/common.h, GGML_FA_TILE_Q and GGML_FA_TILE_KV).</summary>
    private const int TileCells = 64;

    /// <summary>Tokens that share a tile's conversion (ours: small enough to deal the work out evenly).</summary>
    private const int TileBlock = 16;

    /// <summary>
    /// llama.cpp's n_ubatch: a llama_decode call is computed in ubatches of 512 tokens (llama_context_default_params),
    /// or of the context size when that is smaller.
    /// </summary>
    private const int Ubatch = 512;

    /// <summary>
    /// Whether ggml tiles a head size: the value size must be a multiple of the vector width in floats
    /// (GGML_F32_EPR: 16 in the AVX-512 build, 8 in the AVX2 one; ops.cpp, ggml_compute_forward_flash_attn_ext_f16).
    /// </summary>
    internal static bool Tiles(int headDim) => Tiles(headDim, GgmlOrders.Current);

    /// <summary><see cref="Tiles(int)"/> in the build of <paramref name="order"/>.</summary>
    internal static bool Tiles(int headDim, GgmlOrder order) => headDim % (order == GgmlOrder.Avx2 ? 8 : 16) == 0;

    /// <summary>
    /// How many leading tokens of one llama_decode call of <paramref name="tokens"/> tokens ggml computes with its tiled
    /// kernel: every ubatch with at least 64 queries (flash_attn_ext_f16: neq1 ≥ GGML_FA_TILE_Q), which is all whole
    /// ubatches and the last one if it is long enough.
    /// </summary>
    public static int TiledTokens(int tokens, int contextLength)
    {
        var ubatch = Math.Min(Ubatch, contextLength);
        var whole = tokens / ubatch * ubatch;
        return tokens - whole >= TileCells ? tokens : whole;
    }

    /// <summary>
    /// llama.cpp's n_kv once cells 0..<paramref name="used"/> − 1 are in use: rounded up to 256 and at least 256
    /// (llama_kv_cache::get_n_kv), within a context of <paramref name="contextLength"/> rounded up to 256 (llama_context).
    /// </summary>
    public static int ViewCells(int used, int contextLength) =>
        Math.Min(RoundUp256(contextLength), Math.Max(256, RoundUp256(used)));

    private static int RoundUp256(int n) => (n + 255) & ~255;

    /// <summary>Whether the job takes the split-KV path (flash_attn_ext_f16: one query, F16 cache, nek1 ≥ 512).</summary>
    private static bool Splits(ref AttentionJob job) => job.Half && job.Tokens == 1 && job.KvSplits > 1 && job.ViewCells >= 512;

    private static void RunSplit(AttentionJob* job, WorkerPool pool)
    {
        var hd = job->HeadDimension;
        for (var h = 0; h < job->Heads; h++)
        {
            HalfAccumulator.RoundAll(job->Queries + (h * hd), job->Queries + (h * hd), hd);
        }

        pool.Run(&RunSplitUnits, job);
        Combine(ref *job);
    }

    private static void RunSplitUnits(void* context, int index, int count)
    {
        ref var job = ref Unsafe.AsRef<AttentionJob>(context);
        var scratch = job.Scratch + ((long)index * ScratchFloats(job.Capacity, job.HeadDimension));
        var chunk = SplitCells(ref job);
        var n = job.StartPosition + 1;
        var group = job.Heads / job.KvHeads;
        var hd = job.HeadDimension;
        for (var u = index; u < job.KvHeads * job.KvSplits; u += count)
        {
            int c = u / job.KvHeads, g = u % job.KvHeads;
            var maxima = PartialMaxima(ref job, c) + (g * group);
            var from = Math.Max(c * chunk, FirstVisible(ref job, n - 1));
            var to = Math.Min(Math.Min((c * chunk) + chunk, job.ViewCells), n);
            if (from >= to)
            {
                // Every cell of the chunk is masked: ggml's chunk keeps M = −∞ and S = 0, and the combination skips it.
                new Span<float>(maxima, group).Fill(float.NegativeInfinity);
                new Span<float>(maxima + job.Heads, group).Clear();
                continue;
            }

            HalfGroup(ref job, 0, g, from, to, scratch, PartialChunk(ref job, c) + (g * group * hd), maxima);
        }
    }

    /// <summary>Cells per chunk of the split path: ⌈n_kv / threads⌉, as ggml cuts them.</summary>
    private static int SplitCells(ref AttentionJob job) => (job.ViewCells + job.KvSplits - 1) / job.KvSplits;

    /// <summary>Chunk <paramref name="c"/>'s partial results (<see cref="PartialFloats"/>): first the [heads][headDim] accumulators.</summary>
    private static float* PartialChunk(ref AttentionJob job, int c) => job.Partials + ((long)c * job.Heads * (job.HeadDimension + 2));

    /// <summary>Chunk <paramref name="c"/>'s [heads] running maxima, followed by its [heads] sums.</summary>
    private static float* PartialMaxima(ref AttentionJob job, int c) => PartialChunk(ref job, c) + ((long)job.Heads * job.HeadDimension);

    /// <summary>
    /// The chunks combined in order (ggml_flash_attn_ext_reduce_partials): skipping empty ones, each rescales the running
    /// result and its own by e^(M − M_new) (C library expf), the running term fused as the compiled code fuses it; then ×1/S.
    /// </summary>
    private static void Combine(ref AttentionJob job)
    {
        var hd = job.HeadDimension;
        var chunk = SplitCells(ref job);
        for (var h = 0; h < job.Heads; h++)
        {
            var output = job.Output + ((long)h * hd);
            new Span<float>(output, hd).Clear();
            float m = float.NegativeInfinity, sum = 0;
            for (var c = 0; c < job.KvSplits; c++)
            {
                if ((long)c * chunk >= job.ViewCells)
                {
                    continue;
                }

                var maxima = PartialMaxima(ref job, c);
                var mc = maxima[h];
                var sc = maxima[job.Heads + h];
                if (sc == 0)
                {
                    continue;
                }

                var mNew = MathF.Max(m, mc);
                var scaleOld = ExpOrZero(m - mNew);
                var scaleNew = ExpOrZero(mc - mNew);
                var acc = PartialChunk(ref job, c) + ((long)h * hd);
                for (var d = 0; d < hd; d++)
                {
                    output[d] = MathF.FusedMultiplyAdd(output[d], scaleOld, acc[d] * scaleNew);
                }

                sum = MathF.FusedMultiplyAdd(sum, scaleOld, sc * scaleNew);
                m = mNew;
            }

            if (sum != 0)
            {
                Elementwise.Scale(new Span<float>(output, hd), 1 / sum);
            }
        }
    }

    /// <summary>
    /// Tokens <paramref name="t0"/>..<paramref name="t1"/> − 1, the heads of KV group <paramref name="g"/>, as ggml's tiled
    /// kernel computes each query row: the query stays float; per tile of 64 cells (from cell 0, in order) each score is one
    /// fused chain over the head's values from +0, times the scale; the tile's maximum updates the running one M, and
    /// when M grows the accumulator and the sum S are multiplied by expf(M_old − M); the probabilities are ggml's vector
    /// e^(s − M), summed as ggml_vec_soft_max_f32 sums them (<see cref="Probabilities(float*, float)"/>), then added to S; each value lane gains Σ p·v as one fused chain over the tile's cells; at the end ×1/S.
    /// Cells a row cannot see have probability 0 there and are left out. A row's result does not depend on which other
    /// rows share its tile, so the block's rows need not be ggml's; they share each tile's conversion.
    /// </summary>
    [SkipLocalsInit]
    private static void TiledBlock(ref AttentionJob job, int t0, int t1, int g, float* scratch)
    {
        var hd = job.HeadDimension;
        var group = job.Heads / job.KvHeads;
        var headOffset = (long)g * job.Capacity * hd;
        var keys = (ushort*)job.Keys + headOffset;
        var values = (ushort*)job.Values + headOffset;
        var kt = scratch; // [hd][64], the tile's keys transposed
        var vf = scratch + (TileCells * hd); // [64][hd]
        var rows = (t1 - t0) * group;
        var m = stackalloc float[rows]; // [token][head]
        var sum = stackalloc float[rows];
        var p = stackalloc float[TileCells];
        new Span<float>(m, rows).Fill(float.NegativeInfinity);
        new Span<float>(sum, rows).Clear();
        for (var t = t0; t < t1; t++)
        {
            new Span<float>(job.Output + ((long)t * job.Heads * hd) + (g * group * hd), group * hd).Clear();
        }

        var cells = job.StartPosition + t1; // the last token sees this many
        var scale = DotScale(ref job);
        for (var c0 = 0; c0 < cells; c0 += TileCells)
        {
            if (c0 + TileCells <= FirstVisible(ref job, job.StartPosition + t0))
            {
                continue; // the window has passed this tile for every row of the block (and ggml skips a tile no row sees)
            }

            var tileCount = Math.Min(TileCells, cells - c0);
            Fp16.ToFloats(keys + ((long)c0 * hd), vf, tileCount * hd);
            Transpose(vf, kt, tileCount, hd);
            Fp16.ToFloats(values + ((long)c0 * hd), vf, tileCount * hd);
            for (var t = Math.Max(t0, c0 - job.StartPosition); t < t1; t++)
            {
                var count = Math.Min(TileCells, job.StartPosition + t + 1 - c0);
                var hidden = FirstVisible(ref job, job.StartPosition + t) - c0; // cells below the row's window
                if (hidden >= TileCells)
                {
                    continue; // a fully masked row: ggml skips its maximum, sum and values for this tile
                }

                var queries = job.Queries + ((long)t * job.Heads * hd) + (g * group * hd);
                var outputs = job.Output + ((long)t * job.Heads * hd) + (g * group * hd);
                var r = (t - t0) * group;
                for (var h = 0; h < group; h++)
                {
                    var output = outputs + (h * hd);
                    TileScores(queries + (h * hd), kt, hd, scale, p);
                    Cap(p, TileCells, job.Softcap); // ggml_vec_tanh_f32, then ggml_vec_scale_f32 by the cap, before the mask

                    for (var c = count; c < TileCells; c++)
                    {
                        p[c] = float.NegativeInfinity;
                    }

                    for (var c = 0; c < hidden; c++)
                    {
                        p[c] = float.NegativeInfinity;
                    }

                    var tileMax = float.NegativeInfinity;
                    for (var c = 0; c < count; c++)
                    {
                        tileMax = p[c] > tileMax ? p[c] : tileMax;
                    }

                    var mNew = MathF.Max(m[r + h], tileMax);
                    if (mNew > m[r + h])
                    {
                        var ms = ExpOrZero(m[r + h] - mNew);
                        Elementwise.Scale(new Span<float>(output, hd), ms);
                        sum[r + h] *= ms;
                    }

                    m[r + h] = mNew;
                    sum[r + h] = (float)(sum[r + h] + Probabilities(p, mNew));
                    AccumulateValues(output, vf, p, count, hd);
                }
            }
        }

        for (var t = t0; t < t1; t++)
        {
            var outputs = job.Output + ((long)t * job.Heads * hd) + (g * group * hd);
            var r = (t - t0) * group;
            for (var h = 0; h < group; h++)
            {
                Elementwise.Scale(new Span<float>(outputs + (h * hd), hd), sum[r + h] == 0 ? 0 : 1 / sum[r + h]);
            }
        }
    }

    /// <summary>kt[d][c] = rows[c][d] for the tile's first <paramref name="count"/> cells.</summary>
    private static void Transpose(float* rows, float* kt, int count, int hd)
    {
        for (var c = 0; c < count; c++)
        {
            var k = rows + ((long)c * hd);
            for (var d = 0; d < hd; d++)
            {
                kt[(d * TileCells) + c] = k[d];
            }
        }
    }

    /// <summary>
    /// scores[c] = (Σ_d fused, from +0, in order of d: q[d]·k_c[d]) · scale + 0 for all 64 cells of the tile (simd_gemm: each
    /// score one chain, whatever the vector width; the + 0 is the mask's). Cells past the tile's count hold garbage.
    /// </summary>
    private static void TileScores(float* q, float* kt, int hd, float scale, float* scores)
    {
        var w = Vector<float>.Count;
        for (var c0 = 0; c0 < TileCells; c0 += 4 * w)
        {
            Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
            var k = kt + c0;
            for (var d = 0; d < hd; d++, k += TileCells)
            {
                var qd = new Vector<float>(q[d]);
                a0 = Vector.FusedMultiplyAdd(Vector.Load(k), qd, a0);
                a1 = Vector.FusedMultiplyAdd(Vector.Load(k + w), qd, a1);
                a2 = Vector.FusedMultiplyAdd(Vector.Load(k + (2 * w)), qd, a2);
                a3 = Vector.FusedMultiplyAdd(Vector.Load(k + (3 * w)), qd, a3);
            }

            var s = new Vector<float>(scale);
            ((a0 * s) + Vector<float>.Zero).Store(scores + c0);
            ((a1 * s) + Vector<float>.Zero).Store(scores + c0 + w);
            ((a2 * s) + Vector<float>.Zero).Store(scores + c0 + (2 * w));
            ((a3 * s) + Vector<float>.Zero).Store(scores + c0 + (3 * w));
        }
    }

    /// <summary>
    /// p[c] = ggml's e^(p[c] − max) for the tile's 64 scores, and their sum as ggml_vec_soft_max_f32 (ggml-cpu/vec.cpp) takes
    /// it in the build of <see cref="GgmlOrders.Current"/>. AVX-512: the AVX-512 exp sixteen at a time, each sixteen folded as
    /// _mm512_reduce_add_ps does (halves, quarters, (0 + 2) + (1 + 3)) and added in double. AVX2: the AVX2 exp eight at a
    /// time, each eight folded high half + low half, then (0 + 2) + (1 + 3), and added in double.
    /// </summary>
    internal static double Probabilities(float* p, float max) => Probabilities(p, max, GgmlOrders.Current);

    /// <summary><see cref="Probabilities(float*, float)"/> in the build of <paramref name="order"/>.</summary>
    internal static double Probabilities(float* p, float max, GgmlOrder order)
    {
        double sum = 0;
        if (order == GgmlOrder.Avx2)
        {
            for (var c = 0; c < TileCells; c += 8)
            {
                var m = Vector128.Create(max);
                var e0 = Elementwise.ExpAvx2(Vector128.Load(p + c) - m);
                var e1 = Elementwise.ExpAvx2(Vector128.Load(p + c + 4) - m);
                e0.Store(p + c);
                e1.Store(p + c + 4);
                sum += F16.ReduceAdd4(e1 + e0);
            }

            return sum;
        }

        if (Vector512.IsHardwareAccelerated)
        {
            for (var c = 0; c < TileCells; c += 16)
            {
                var e = Elementwise.Exp(Vector512.Load(p + c) - Vector512.Create(max));
                e.Store(p + c);
                var half = e.GetLower() + e.GetUpper();
                sum += F16.ReduceAdd4(half.GetLower() + half.GetUpper());
            }

            return sum;
        }

        for (var c = 0; c < TileCells; c += 16)
        {
            var m = Vector128.Create(max);
            var e0 = Elementwise.Exp(Vector128.Load(p + c) - m);
            var e1 = Elementwise.Exp(Vector128.Load(p + c + 4) - m);
            var e2 = Elementwise.Exp(Vector128.Load(p + c + 8) - m);
            var e3 = Elementwise.Exp(Vector128.Load(p + c + 12) - m);
            e0.Store(p + c);
            e1.Store(p + c + 4);
            e2.Store(p + c + 8);
            e3.Store(p + c + 12);
            sum += F16.ReduceAdd4((e0 + e2) + (e1 + e3));
        }

        return sum;
    }

    /// <summary>
    /// Scalar twin of <see cref="Probabilities(float*, float, GgmlOrder)"/>: each value through the scalar exp of
    /// <paramref name="order"/>'s build, each chunk's lanes added in the tree its reduction uses, the chunks in double.
    /// </summary>
    internal static double ProbabilitiesScalar(float* p, float max, GgmlOrder order)
    {
        double sum = 0;
        var width = order == GgmlOrder.Avx2 ? 8 : 16;
        Span<float> e = stackalloc float[16];
        Span<float> w = stackalloc float[4];
        for (var c = 0; c < TileCells; c += width)
        {
            for (var l = 0; l < width; l++)
            {
                e[l] = p[c + l] = Elementwise.GgmlExp(p[c + l] - max, order);
            }

            // AVX2: w = high + low, then (w0 + w2) + (w1 + w3). AVX-512: halves, quarters, then (0 + 2) + (1 + 3).
            for (var l = 0; l < 4; l++)
            {
                w[l] = width == 8 ? e[l + 4] + e[l] : (e[l + 12] + e[l + 4]) + (e[l + 8] + e[l]);
            }

            sum += (w[0] + w[2]) + (w[1] + w[3]);
        }

        return sum;
    }

    /// <summary>output[d] = fused chain over the tile's cells in order: p[c]·v_c[d] + output[d] (each lane on its own, so any width gives the same bits).</summary>
    private static void AccumulateValues(float* output, float* vf, float* p, int count, int hd)
    {
        var w = Vector<float>.Count;
        var d = 0;
        for (; d + w <= hd; d += w)
        {
            var acc = Vector.Load(output + d);
            var v = vf + d;
            for (var c = 0; c < count; c++, v += hd)
            {
                acc = Vector.FusedMultiplyAdd(Vector.Load(v), new Vector<float>(p[c]), acc);
            }

            acc.Store(output + d);
        }

        for (; d < hd; d++)
        {
            var acc = output[d];
            for (var c = 0; c < count; c++)
            {
                acc = MathF.FusedMultiplyAdd(vf[((long)c * hd) + d], p[c], acc);
            }

            output[d] = acc;
        }
    }
}
