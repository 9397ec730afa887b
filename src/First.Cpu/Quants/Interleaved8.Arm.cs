using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>A block of eight interleaved rows (<see cref="Interleaved8"/>) read as sixteen 16-byte signed operands.</summary>
internal unsafe interface IInterleavedBlockArm
{
    /// <summary>Bytes of the eight rows' block.</summary>
    static abstract int Bytes { get; }

    /// <summary>As <see cref="IInterleavedBlock.OffsetShift"/>: the operands are the quants plus 2^OffsetShift, or exactly the quants when negative.</summary>
    static abstract int OffsetShift { get; }

    /// <summary>
    /// Operand <paramref name="k"/> (0..7) of rows 0..3 (<paramref name="half"/> 0) or 4..7 (1): quant values
    /// 4k..4k+3 of each of the four rows, in row order.
    /// </summary>
    static abstract Vector128<sbyte> Operand(byte* block, int k, int half);
}

/// <summary>
/// How the arm64 interleaved kernels sum operands against groups of four activation bytes: the row lanes of a
/// register of four rows (four bytes each, <see cref="IInterleavedBlockArm.Operand"/>) each gain the products of
/// their four bytes with the group's four. Every implementation gives the same exact int32 sums.
/// </summary>
internal interface IQuadDotArm
{
    /// <summary>s + Σ_k w_k · group k of <paramref name="x"/> (bytes 4k..4k+3), k = 0..3, per row lane.</summary>
    static abstract Vector128<int> Quads(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3, Vector128<sbyte> x);

    /// <summary>s + Σ_k w_k · group k, k = 0..7: groups 0..3 in <paramref name="lo"/>, 4..7 in <paramref name="hi"/>.</summary>
    static abstract Vector128<int> Chain(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3,
        Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7, Vector128<sbyte> lo, Vector128<sbyte> hi);
}

/// <summary>The dot-product extension (Cortex-A76 and later, a Raspberry Pi 5): one sdot by element per operand.</summary>
internal readonly struct SdotQuads : IQuadDotArm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Quads(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3, Vector128<sbyte> x)
    {
        s = Dp.DotProductBySelectedQuadruplet(s, w0, x, 0);
        s = Dp.DotProductBySelectedQuadruplet(s, w1, x, 1);
        s = Dp.DotProductBySelectedQuadruplet(s, w2, x, 2);
        return Dp.DotProductBySelectedQuadruplet(s, w3, x, 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Chain(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3,
        Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7, Vector128<sbyte> lo, Vector128<sbyte> hi) =>
        Quads(Quads(s, w0, w1, w2, w3, lo), w4, w5, w6, w7, hi);
}

/// <summary>
/// Plain NEON (Cortex-A72, a Raspberry Pi 4), for operands of levels: the group is broadcast (dup), smull and
/// smull2 multiply rows 0..1 and 2..3 into int16 lanes, and smlal/smlal2 add the other operands' products in
/// the same lanes; two saddlp and one addp then fold each row's four lanes into its int32. A lane holds one
/// product per operand, so the int16 sums are exact while |w| · 127 · operands ≤ 32767: levels 0..32 for
/// <see cref="Chain"/> (8 · 32 · 127 = 32512: Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K) and −64..63 for
/// <see cref="Quads"/> (Q6_K's 0..63). Activations are −127..127 (ggml's quantize_row_q8_0/q8_1/q8_K round
/// to at most 127 in magnitude).
/// </summary>
internal readonly struct NeonQuads : IQuadDotArm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Quads(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3, Vector128<sbyte> x)
    {
        var (low, high) = First(w0, x);
        Add(ref low, ref high, w1, Group(x, 1));
        Add(ref low, ref high, w2, Group(x, 2));
        Add(ref low, ref high, w3, Group(x, 3));
        return Fold(s, low, high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Chain(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3,
        Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7, Vector128<sbyte> lo, Vector128<sbyte> hi)
    {
        var (low, high) = First(w0, lo);
        Add(ref low, ref high, w1, Group(lo, 1));
        Add(ref low, ref high, w2, Group(lo, 2));
        Add(ref low, ref high, w3, Group(lo, 3));
        Add(ref low, ref high, w4, Group(hi, 0));
        Add(ref low, ref high, w5, Group(hi, 1));
        Add(ref low, ref high, w6, Group(hi, 2));
        Add(ref low, ref high, w7, Group(hi, 3));
        return Fold(s, low, high);
    }

    /// <summary>Group <paramref name="k"/> of x in every int32 lane (dup).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<sbyte> Group(Vector128<sbyte> x, [ConstantExpected(Min = 0, Max = 3)] byte k) =>
        AdvSimd.DuplicateSelectedScalarToVector128(x.AsInt32(), k).AsSByte();

    /// <summary>Operand w times group 0 of x: rows 0..1 and rows 2..3 (smull, smull2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<short> Low, Vector128<short> High) First(Vector128<sbyte> w, Vector128<sbyte> x)
    {
        var g = Group(x, 0);
        // smull2 first: the 64-bit views of w and g are then their last uses, which spares the JIT a register copy each.
        var high = AdvSimd.MultiplyWideningUpper(w, g);
        return (AdvSimd.MultiplyWideningLower(w.GetLower(), g.GetLower()), high);
    }

    /// <summary>Operand w times the broadcast group g, added into rows 0..1 (<paramref name="low"/>) and 2..3 (<paramref name="high"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(ref Vector128<short> low, ref Vector128<short> high, Vector128<sbyte> w, Vector128<sbyte> g)
    {
        high = AdvSimd.MultiplyWideningUpperAndAdd(high, w, g);
        low = AdvSimd.MultiplyWideningLowerAndAdd(low, w.GetLower(), g.GetLower());
    }

    /// <summary>s + each row's four int16 lanes, rows 0..1 from <paramref name="low"/> and 2..3 from <paramref name="high"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Fold(Vector128<int> s, Vector128<short> low, Vector128<short> high) =>
        s + AdvSimd.Arm64.AddPairwise(AdvSimd.AddPairwiseWidening(low), AdvSimd.AddPairwiseWidening(high));
}

/// <summary>
/// Plain NEON for any signed bytes (Q8_0): as <see cref="NeonQuads"/>, but two products per int16 lane at most
/// (2 · 128 · 127 = 32512), each pair then added into int32 lanes (sadalp).
/// </summary>
internal readonly struct NeonPairQuads : IQuadDotArm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Quads(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3, Vector128<sbyte> x)
    {
        var low = Vector128<int>.Zero;
        var high = Vector128<int>.Zero;
        Pair(ref low, ref high, w0, w1, x, 0, 1);
        Pair(ref low, ref high, w2, w3, x, 2, 3);
        return s + AdvSimd.Arm64.AddPairwise(low, high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Chain(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3,
        Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7, Vector128<sbyte> lo, Vector128<sbyte> hi)
    {
        var low = Vector128<int>.Zero;
        var high = Vector128<int>.Zero;
        Pair(ref low, ref high, w0, w1, lo, 0, 1);
        Pair(ref low, ref high, w2, w3, lo, 2, 3);
        Pair(ref low, ref high, w4, w5, hi, 0, 1);
        Pair(ref low, ref high, w6, w7, hi, 2, 3);
        return s + AdvSimd.Arm64.AddPairwise(low, high);
    }

    /// <summary>Operands w and v times groups k and j of x, summed in int16 and added pairwise into int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(ref Vector128<int> low, ref Vector128<int> high, Vector128<sbyte> w, Vector128<sbyte> v, Vector128<sbyte> x,
        [ConstantExpected(Min = 0, Max = 3)] byte k, [ConstantExpected(Min = 0, Max = 3)] byte j)
    {
        var g = NeonQuads.Group(x, k);
        var h = NeonQuads.Group(x, j);
        // smull2 first: the 64-bit views are then the last uses of w, v, g and h (see NeonQuads.First).
        var upper = AdvSimd.MultiplyWideningUpperAndAdd(AdvSimd.MultiplyWideningUpper(w, g), v, h);
        var lower = AdvSimd.MultiplyWideningLowerAndAdd(AdvSimd.MultiplyWideningLower(w.GetLower(), g.GetLower()), v.GetLower(), h.GetLower());
        high = AdvSimd.AddPairwiseWideningAndAdd(high, upper);
        low = AdvSimd.AddPairwiseWideningAndAdd(low, lower);
    }
}

/// <summary>
/// The arm64 products of eight interleaved rows with <see cref="Q8Activations"/>. A chunk of the layout is two
/// 16-byte registers, rows 0..3 and rows 4..7, four quant bytes each; an <see cref="IQuadDotArm"/> pairs it with
/// one group of four activation bytes (a lane of the 16 loaded), summing the group into every row's int32 lane:
/// one sdot by element with the dot-product extension (Cortex-A76 and later, a Raspberry Pi 5), widening
/// multiplies on plain NEON (a Raspberry Pi 4). Sums start from the block's offset correction, as on x86, and one
/// conversion and multiply-add per half block follow.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = rows · x for one token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotArm<TBlock, TDot>(byte* group, byte* activations, int n, float* y)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        var nb = n / Q8Activations.BlockSize;
        var ad = Q8Activations.Scales(activations, n);
        var am = Q8Activations.NegatedSums(activations, n);
        Vector128<float> acc0 = default, acc1 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var x = activations + (b * Q8Activations.BlockSize);
            var start = StartArm<TBlock>(am, b);
            var (s0, s1) = SumArm<TBlock, TDot>(group, start, AdvSimd.LoadVector128((sbyte*)x), AdvSimd.LoadVector128((sbyte*)x + 16));
            var (d0, d1) = ScalesArm(group);
            var da = Vector128.Create(ad[b]);
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(s0), d0 * da);
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(s1), d1 * da);
        }

        acc0.Store(y);
        acc1.Store(y + 4);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = rows · x_t for four tokens <paramref name="stride"/> bytes apart: the block's operands
    /// are loaded once for the four. Sixteen operands and eight accumulators fit sdot's kernels in NEON's 32
    /// registers; <see cref="Dot4HalvesArm"/> serves plain NEON.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Arm<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        var nb = n / Q8Activations.BlockSize;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        int* m0 = Q8Activations.NegatedSums(x0, n), m1 = Q8Activations.NegatedSums(x1, n), m2 = Q8Activations.NegatedSums(x2, n), m3 = Q8Activations.NegatedSums(x3, n);
        Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector128<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var w0 = TBlock.Operand(group, 0, 0);
            var w1 = TBlock.Operand(group, 1, 0);
            var w2 = TBlock.Operand(group, 2, 0);
            var w3 = TBlock.Operand(group, 3, 0);
            var w4 = TBlock.Operand(group, 4, 0);
            var w5 = TBlock.Operand(group, 5, 0);
            var w6 = TBlock.Operand(group, 6, 0);
            var w7 = TBlock.Operand(group, 7, 0);
            var v0 = TBlock.Operand(group, 0, 1);
            var v1 = TBlock.Operand(group, 1, 1);
            var v2 = TBlock.Operand(group, 2, 1);
            var v3 = TBlock.Operand(group, 3, 1);
            var v4 = TBlock.Operand(group, 4, 1);
            var v5 = TBlock.Operand(group, 5, 1);
            var v6 = TBlock.Operand(group, 6, 1);
            var v7 = TBlock.Operand(group, 7, 1);
            var (dw, dv) = ScalesArm(group);
            var q = b * Q8Activations.BlockSize;

            var lo = AdvSimd.LoadVector128((sbyte*)x0 + q);
            var hi = AdvSimd.LoadVector128((sbyte*)x0 + q + 16);
            var start = StartArm<TBlock>(m0, b);
            var s = TDot.Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            var r = TDot.Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            var e = Vector128.Create(d0[b]);
            a0 = AdvSimd.FusedMultiplyAdd(a0, AdvSimd.ConvertToSingle(s), dw * e);
            b0 = AdvSimd.FusedMultiplyAdd(b0, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x1 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x1 + q + 16);
            start = StartArm<TBlock>(m1, b);
            s = TDot.Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = TDot.Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d1[b]);
            a1 = AdvSimd.FusedMultiplyAdd(a1, AdvSimd.ConvertToSingle(s), dw * e);
            b1 = AdvSimd.FusedMultiplyAdd(b1, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x2 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x2 + q + 16);
            start = StartArm<TBlock>(m2, b);
            s = TDot.Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = TDot.Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d2[b]);
            a2 = AdvSimd.FusedMultiplyAdd(a2, AdvSimd.ConvertToSingle(s), dw * e);
            b2 = AdvSimd.FusedMultiplyAdd(b2, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x3 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x3 + q + 16);
            start = StartArm<TBlock>(m3, b);
            s = TDot.Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = TDot.Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d3[b]);
            a3 = AdvSimd.FusedMultiplyAdd(a3, AdvSimd.ConvertToSingle(s), dw * e);
            b3 = AdvSimd.FusedMultiplyAdd(b3, AdvSimd.ConvertToSingle(r), dv * e);
        }

        a0.Store(y);
        b0.Store(y + 4);
        a1.Store(y + yStride);
        b1.Store(y + yStride + 4);
        a2.Store(y + (2 * yStride));
        b2.Store(y + (2 * yStride) + 4);
        a3.Store(y + (3 * yStride));
        b3.Store(y + (3 * yStride) + 4);
    }

    /// <summary>
    /// <see cref="Dot4Arm"/> one half of the rows at a time, accumulated in the outputs, for plain NEON: its
    /// broadcasts and int16 sums beside sixteen operands and eight accumulators would not fit in 32 registers
    /// (141 stack accesses in the loop). A loop over the halves, not two copies, so that the JIT does not keep
    /// the four tokens' activations loaded across both.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4HalvesArm<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        var nb = n / Q8Activations.BlockSize;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        int* m0 = Q8Activations.NegatedSums(x0, n), m1 = Q8Activations.NegatedSums(x1, n), m2 = Q8Activations.NegatedSums(x2, n), m3 = Q8Activations.NegatedSums(x3, n);
        ClearOutputs(y, yStride);
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var (dw, dv) = ScalesArm(group);
            for (var half = 0; half < 2; half++)
            {
                var (w0, w1, w2, w3, w4, w5, w6, w7) = OperandsArm<TBlock>(group, half);
                var d = half == 0 ? dw : dv;
                var o = y + (4 * half);
                TokenArm<TBlock, TDot>(o, w0, w1, w2, w3, w4, w5, w6, w7, x0, m0, d0, b, d);
                TokenArm<TBlock, TDot>(o + yStride, w0, w1, w2, w3, w4, w5, w6, w7, x1, m1, d1, b, d);
                TokenArm<TBlock, TDot>(o + (2 * yStride), w0, w1, w2, w3, w4, w5, w6, w7, x2, m2, d2, b, d);
                TokenArm<TBlock, TDot>(o + (3 * yStride), w0, w1, w2, w3, w4, w5, w6, w7, x3, m3, d3, b, d);
            }
        }
    }

    /// <summary>The eight operands of one half of the rows (0: rows 0..3, 1: rows 4..7) of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>) OperandsArm<TBlock>(
        byte* group, int half)
        where TBlock : IInterleavedBlockArm =>
        (TBlock.Operand(group, 0, half), TBlock.Operand(group, 1, half), TBlock.Operand(group, 2, half), TBlock.Operand(group, 3, half),
         TBlock.Operand(group, 4, half), TBlock.Operand(group, 5, half), TBlock.Operand(group, 6, half), TBlock.Operand(group, 7, half));

    /// <summary>output[0..3] += (one half's block of operands · token x's block b) · scale · d_x[b], the sum started from the block's offset correction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenArm<TBlock, TDot>(float* output,
        Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3, Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7,
        byte* x, int* negatedSums, float* scales, int b, Vector128<float> scale)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        var q = (sbyte*)x + (b * Q8Activations.BlockSize);
        var s = TDot.Chain(StartArm<TBlock>(negatedSums, b), w0, w1, w2, w3, w4, w5, w6, w7, AdvSimd.LoadVector128(q), AdvSimd.LoadVector128(q + 16));
        AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(output), AdvSimd.ConvertToSingle(s), scale * Vector128.Create(scales[b])).Store(output);
    }

    /// <summary>One token's block for rows 0..3 and rows 4..7, from <paramref name="start"/>; <paramref name="lo"/> and <paramref name="hi"/> hold its activation groups 0..3 and 4..7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<int> Low, Vector128<int> High) SumArm<TBlock, TDot>(byte* block, Vector128<int> start, Vector128<sbyte> lo, Vector128<sbyte> hi)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm =>
        (TDot.Chain(start, TBlock.Operand(block, 0, 0), TBlock.Operand(block, 1, 0), TBlock.Operand(block, 2, 0), TBlock.Operand(block, 3, 0),
            TBlock.Operand(block, 4, 0), TBlock.Operand(block, 5, 0), TBlock.Operand(block, 6, 0), TBlock.Operand(block, 7, 0), lo, hi),
         TDot.Chain(start, TBlock.Operand(block, 0, 1), TBlock.Operand(block, 1, 1), TBlock.Operand(block, 2, 1), TBlock.Operand(block, 3, 1),
            TBlock.Operand(block, 4, 1), TBlock.Operand(block, 5, 1), TBlock.Operand(block, 6, 1), TBlock.Operand(block, 7, 1), lo, hi));

    /// <summary>Where a block's integer sums start (see the x86 Start).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> StartArm<TBlock>(int* negatedSums, int b)
        where TBlock : IInterleavedBlockArm =>
        TBlock.OffsetShift < 0 ? Vector128<int>.Zero : Vector128.Create(negatedSums[b] << TBlock.OffsetShift);

    /// <summary>The eight rows' half scales at the start of a block, as floats: rows 0..3, rows 4..7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<float> Low, Vector128<float> High) ScalesArm(byte* block)
    {
        var h = AdvSimd.LoadVector128((ushort*)block);
        return (Fp16.ToFloat(Vector128.WidenLower(h)), Fp16.ToFloat(Vector128.WidenUpper(h)));
    }
}

/// <summary>Q4_0 interleaved on arm64: operand k &lt; 4 is the low nibbles of chunk k, k ≥ 4 the high nibbles of chunk k − 4 (0..15, valid as signed bytes).</summary>
internal readonly unsafe struct Q4_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => 8 * BlockQ4_0.Size;

    public static int OffsetShift => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => k < 4
        ? (AdvSimd.LoadVector128(block + 16 + (32 * k) + (16 * half)) & Vector128.Create((byte)0x0F)).AsSByte()
        : AdvSimd.ShiftRightLogical(AdvSimd.LoadVector128(block + 16 + (32 * (k - 4)) + (16 * half)), 4).AsSByte();
}

/// <summary>Q8_0 interleaved on arm64: the quants as they are.</summary>
internal readonly unsafe struct Q8_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => AdvSimd.LoadVector128((sbyte*)block + 16 + (32 * k) + (16 * half));
}
