using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>
/// The x86 products of eight interleaved Q4_K or Q5_K rows (<see cref="Interleaved8"/>'s layouts) with Q8_K
/// activations, summing in integers as ggml's Q4_K · Q8_K does: per group of 32 values, eight byte-product
/// instructions (one operand, one broadcast group of four activation bytes) give every row's Σ q·a in its
/// int32 lane; times the rows' six-bit scales (vpmulld) into one integer sum per super-block; the mins against
/// the activations' sums of 16 (vpmaddwd). One conversion and multiply-add by d·d_a and by dmin·d_a per
/// super-block. With vpdpbusd the high nibbles are taken in place (q·16, at most 240·127·32 per group, exact
/// in int32) and the group sum shifted back; vpmaddubsw would saturate on them, so AVX2 shifts them down.
/// Q5_K's fifth bits come from the qh operands (bit 2h or 2h + 1 of the byte, as bit 4 of the level).
/// </summary>
internal interface IScaleMinLayout
{
    /// <summary>Bytes of a group super-block.</summary>
    static abstract int GroupBlock { get; }

    /// <summary>Offset of the nibble operands.</summary>
    static abstract int Quants { get; }

    /// <summary>Whether each value has a fifth bit in the qh operands (Q5_K).</summary>
    static abstract bool FifthBits { get; }
}

/// <summary>Q4_K's eight-row layout.</summary>
internal readonly struct Q4_KLayout : IScaleMinLayout
{
    public static int GroupBlock => Interleaved8.Q4_KGroupBlock;

    public static int Quants => Interleaved8.Q4_KQuants;

    public static bool FifthBits => false;
}

/// <summary>Q5_K's eight-row layout.</summary>
internal readonly struct Q5_KLayout : IScaleMinLayout
{
    public static int GroupBlock => Interleaved8.Q5_KGroupBlock;

    public static int Quants => Interleaved8.Q5_KQuants;

    public static bool FifthBits => true;
}

public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = the eight Q4_K (or Q5_K) rows · one Q8_K token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotScaleMin<TLayout, TDot>(byte* group, byte* activations, int n, float* y)
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate
    {
        var a = (BlockQ8_K*)activations;
        Vector256<float> acc = default;
        for (var b = 0; b < n / BlockQ4_K.Elements; b++, group += TLayout.GroupBlock, a++)
        {
            var x = a->Qs;
            var sums = (int*)a->Bsums;
            Vector256<int> s = default, m = default;
            for (var hp = 0; hp < 2; hp++)
            {
                var sm = Avx.LoadVector256(group + Q4_KScales + (32 * hp));
                var scales = sm & Vector256.Create((byte)0x3F);
                var mins = Q4_KMins(group + Q4_KMinNibbles + (16 * hp), sm);
                for (var hh = 0; hh < 2; hh++)
                {
                    var h = (2 * hp) + hh;
                    m += Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mins, PairControl(0)).AsInt16(), Vector256.Create(sums[2 * h]).AsInt16())
                        + Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mins, PairControl(1)).AsInt16(), Vector256.Create(sums[(2 * h) + 1]).AsInt16());

                    if (typeof(TDot) == typeof(MaddAccumulate))
                    {
                        s += ScaledGroupsMadd<TLayout>(group, h, x + (64 * h), Avx2.Shuffle(scales, PairControl(0)).AsInt16(), Avx2.Shuffle(scales, PairControl(1)).AsInt16());
                    }
                    else
                    {
                        var (even, odd) = Q4_KGroups<TLayout, TDot>(group, h, x + (64 * h));
                        s += Avx2.MultiplyLow(even, Avx2.Shuffle(scales, WordControl(0)).AsInt32()) + Avx2.MultiplyLow(odd, Avx2.Shuffle(scales, WordControl(1)).AsInt32());
                    }

                    scales = Avx2.ShiftRightLogical128BitLane(scales, 8);
                    mins = Avx2.ShiftRightLogical128BitLane(mins, 8);
                }
            }

            var da = Vector256.Create(a->D);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Scales(group) * da, acc);
            acc = Fma.MultiplyAddNegated(Avx.ConvertToVector256Single(m), Scales(group + 16) * da, acc);
        }

        acc.Store(y);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = the eight Q4_K (or Q5_K) rows · token t, for four Q8_K tokens <paramref name="stride"/>
    /// bytes apart: each operand is loaded and split into levels once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4ScaleMin<TLayout, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate
    {
        BlockQ8_K* a0 = (BlockQ8_K*)activations, a1 = (BlockQ8_K*)(activations + stride), a2 = (BlockQ8_K*)(activations + (2 * stride)), a3 = (BlockQ8_K*)(activations + (3 * stride));
        // The four results accumulate in y itself, once per super-block: kept in registers, they left too few of
        // the sixteen that vpdpbusd accumulates in, and the JIT copied every accumulator in and out per product.
        float* y0 = y, y1 = y + yStride, y2 = y + (2 * yStride), y3 = y + (3 * yStride);
        ClearOutputs(y, yStride);
        for (var b = 0; b < n / BlockQ4_K.Elements; b++, group += TLayout.GroupBlock, a0++, a1++, a2++, a3++)
        {
            // The mins first, so that their sums are folded into the accumulators before the quants need registers.
            Vector256<int> m0 = default, m1 = default, m2 = default, m3 = default;
            int* b0 = (int*)a0->Bsums, b1 = (int*)a1->Bsums, b2 = (int*)a2->Bsums, b3 = (int*)a3->Bsums;
            for (var hp = 0; hp < 2; hp++)
            {
                var mins = Q4_KMins(group + Q4_KMinNibbles + (16 * hp), Avx.LoadVector256(group + Q4_KScales + (32 * hp)));
                for (var hh = 0; hh < 2; hh++)
                {
                    var g = 2 * ((2 * hp) + hh);
                    var even = Avx2.Shuffle(mins, PairControl(0)).AsInt16();
                    var odd = Avx2.Shuffle(mins, PairControl(1)).AsInt16();
                    m0 += Avx2.MultiplyAddAdjacent(even, Vector256.Create(b0[g]).AsInt16()) + Avx2.MultiplyAddAdjacent(odd, Vector256.Create(b0[g + 1]).AsInt16());
                    m1 += Avx2.MultiplyAddAdjacent(even, Vector256.Create(b1[g]).AsInt16()) + Avx2.MultiplyAddAdjacent(odd, Vector256.Create(b1[g + 1]).AsInt16());
                    m2 += Avx2.MultiplyAddAdjacent(even, Vector256.Create(b2[g]).AsInt16()) + Avx2.MultiplyAddAdjacent(odd, Vector256.Create(b2[g + 1]).AsInt16());
                    m3 += Avx2.MultiplyAddAdjacent(even, Vector256.Create(b3[g]).AsInt16()) + Avx2.MultiplyAddAdjacent(odd, Vector256.Create(b3[g + 1]).AsInt16());
                    mins = Avx2.ShiftRightLogical128BitLane(mins, 8);
                }
            }

            var negatedDmin = -Scales(group + 16); // the mins are subtracted: y − m·dmin·d_a, the same bits as a negated fma
            AddScaled(y0, m0, negatedDmin, a0->D);
            AddScaled(y1, m1, negatedDmin, a1->D);
            AddScaled(y2, m2, negatedDmin, a2->D);
            AddScaled(y3, m3, negatedDmin, a3->D);

            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            sbyte* x0 = a0->Qs, x1 = a1->Qs, x2 = a2->Qs, x3 = a3->Qs;
            for (var hp = 0; hp < 2; hp++)
            {
                var scales = Avx.LoadVector256(group + Q4_KScales + (32 * hp)) & Vector256.Create((byte)0x3F);
                for (var hh = 0; hh < 2; hh++)
                {
                    var h = (2 * hp) + hh;
                    var q = group + TLayout.Quants + (256 * h);
                    var o = 64 * h;
                    // Low nibbles (group 2h), then high (2h + 1): four accumulators at a time (eight left too few registers, as above).
                    var low0 = LowLevels<TLayout>(Avx.LoadVector256(q + 0), group, 0, h);
                    var e0 = TDot.Accumulate(Vector256<int>.Zero, low0, Vector256.Create(*(int*)(x0 + o + 0)).AsSByte());
                    var e1 = TDot.Accumulate(Vector256<int>.Zero, low0, Vector256.Create(*(int*)(x1 + o + 0)).AsSByte());
                    var e2 = TDot.Accumulate(Vector256<int>.Zero, low0, Vector256.Create(*(int*)(x2 + o + 0)).AsSByte());
                    var e3 = TDot.Accumulate(Vector256<int>.Zero, low0, Vector256.Create(*(int*)(x3 + o + 0)).AsSByte());
                    var low1 = LowLevels<TLayout>(Avx.LoadVector256(q + 32), group, 1, h);
                    e0 = TDot.Accumulate(e0, low1, Vector256.Create(*(int*)(x0 + o + 4)).AsSByte());
                    e1 = TDot.Accumulate(e1, low1, Vector256.Create(*(int*)(x1 + o + 4)).AsSByte());
                    e2 = TDot.Accumulate(e2, low1, Vector256.Create(*(int*)(x2 + o + 4)).AsSByte());
                    e3 = TDot.Accumulate(e3, low1, Vector256.Create(*(int*)(x3 + o + 4)).AsSByte());
                    var low2 = LowLevels<TLayout>(Avx.LoadVector256(q + 64), group, 2, h);
                    e0 = TDot.Accumulate(e0, low2, Vector256.Create(*(int*)(x0 + o + 8)).AsSByte());
                    e1 = TDot.Accumulate(e1, low2, Vector256.Create(*(int*)(x1 + o + 8)).AsSByte());
                    e2 = TDot.Accumulate(e2, low2, Vector256.Create(*(int*)(x2 + o + 8)).AsSByte());
                    e3 = TDot.Accumulate(e3, low2, Vector256.Create(*(int*)(x3 + o + 8)).AsSByte());
                    var low3 = LowLevels<TLayout>(Avx.LoadVector256(q + 96), group, 3, h);
                    e0 = TDot.Accumulate(e0, low3, Vector256.Create(*(int*)(x0 + o + 12)).AsSByte());
                    e1 = TDot.Accumulate(e1, low3, Vector256.Create(*(int*)(x1 + o + 12)).AsSByte());
                    e2 = TDot.Accumulate(e2, low3, Vector256.Create(*(int*)(x2 + o + 12)).AsSByte());
                    e3 = TDot.Accumulate(e3, low3, Vector256.Create(*(int*)(x3 + o + 12)).AsSByte());
                    if (SplitSums<TLayout, TDot>())
                    {
                        var half = GroupScales<TDot>(scales, 0);
                        s0 += Scaled<TDot>(e0, half);
                        s1 += Scaled<TDot>(e1, half);
                        s2 += Scaled<TDot>(e2, half);
                        s3 += Scaled<TDot>(e3, half);
                        e0 = e1 = e2 = e3 = Vector256<int>.Zero;
                    }

                    var low4 = LowLevels<TLayout>(Avx.LoadVector256(q + 128), group, 4, h);
                    e0 = TDot.Accumulate(e0, low4, Vector256.Create(*(int*)(x0 + o + 16)).AsSByte());
                    e1 = TDot.Accumulate(e1, low4, Vector256.Create(*(int*)(x1 + o + 16)).AsSByte());
                    e2 = TDot.Accumulate(e2, low4, Vector256.Create(*(int*)(x2 + o + 16)).AsSByte());
                    e3 = TDot.Accumulate(e3, low4, Vector256.Create(*(int*)(x3 + o + 16)).AsSByte());
                    var low5 = LowLevels<TLayout>(Avx.LoadVector256(q + 160), group, 5, h);
                    e0 = TDot.Accumulate(e0, low5, Vector256.Create(*(int*)(x0 + o + 20)).AsSByte());
                    e1 = TDot.Accumulate(e1, low5, Vector256.Create(*(int*)(x1 + o + 20)).AsSByte());
                    e2 = TDot.Accumulate(e2, low5, Vector256.Create(*(int*)(x2 + o + 20)).AsSByte());
                    e3 = TDot.Accumulate(e3, low5, Vector256.Create(*(int*)(x3 + o + 20)).AsSByte());
                    var low6 = LowLevels<TLayout>(Avx.LoadVector256(q + 192), group, 6, h);
                    e0 = TDot.Accumulate(e0, low6, Vector256.Create(*(int*)(x0 + o + 24)).AsSByte());
                    e1 = TDot.Accumulate(e1, low6, Vector256.Create(*(int*)(x1 + o + 24)).AsSByte());
                    e2 = TDot.Accumulate(e2, low6, Vector256.Create(*(int*)(x2 + o + 24)).AsSByte());
                    e3 = TDot.Accumulate(e3, low6, Vector256.Create(*(int*)(x3 + o + 24)).AsSByte());
                    var low7 = LowLevels<TLayout>(Avx.LoadVector256(q + 224), group, 7, h);
                    e0 = TDot.Accumulate(e0, low7, Vector256.Create(*(int*)(x0 + o + 28)).AsSByte());
                    e1 = TDot.Accumulate(e1, low7, Vector256.Create(*(int*)(x1 + o + 28)).AsSByte());
                    e2 = TDot.Accumulate(e2, low7, Vector256.Create(*(int*)(x2 + o + 28)).AsSByte());
                    e3 = TDot.Accumulate(e3, low7, Vector256.Create(*(int*)(x3 + o + 28)).AsSByte());

                    var se = GroupScales<TDot>(scales, 0);
                    s0 += Scaled<TDot>(e0, se);
                    s1 += Scaled<TDot>(e1, se);
                    s2 += Scaled<TDot>(e2, se);
                    s3 += Scaled<TDot>(e3, se);

                    var high0 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 0), group, 0, h);
                    var f0 = TDot.Accumulate(Vector256<int>.Zero, high0, Vector256.Create(*(int*)(x0 + o + 32)).AsSByte());
                    var f1 = TDot.Accumulate(Vector256<int>.Zero, high0, Vector256.Create(*(int*)(x1 + o + 32)).AsSByte());
                    var f2 = TDot.Accumulate(Vector256<int>.Zero, high0, Vector256.Create(*(int*)(x2 + o + 32)).AsSByte());
                    var f3 = TDot.Accumulate(Vector256<int>.Zero, high0, Vector256.Create(*(int*)(x3 + o + 32)).AsSByte());
                    var high1 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 32), group, 1, h);
                    f0 = TDot.Accumulate(f0, high1, Vector256.Create(*(int*)(x0 + o + 36)).AsSByte());
                    f1 = TDot.Accumulate(f1, high1, Vector256.Create(*(int*)(x1 + o + 36)).AsSByte());
                    f2 = TDot.Accumulate(f2, high1, Vector256.Create(*(int*)(x2 + o + 36)).AsSByte());
                    f3 = TDot.Accumulate(f3, high1, Vector256.Create(*(int*)(x3 + o + 36)).AsSByte());
                    var high2 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 64), group, 2, h);
                    f0 = TDot.Accumulate(f0, high2, Vector256.Create(*(int*)(x0 + o + 40)).AsSByte());
                    f1 = TDot.Accumulate(f1, high2, Vector256.Create(*(int*)(x1 + o + 40)).AsSByte());
                    f2 = TDot.Accumulate(f2, high2, Vector256.Create(*(int*)(x2 + o + 40)).AsSByte());
                    f3 = TDot.Accumulate(f3, high2, Vector256.Create(*(int*)(x3 + o + 40)).AsSByte());
                    var high3 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 96), group, 3, h);
                    f0 = TDot.Accumulate(f0, high3, Vector256.Create(*(int*)(x0 + o + 44)).AsSByte());
                    f1 = TDot.Accumulate(f1, high3, Vector256.Create(*(int*)(x1 + o + 44)).AsSByte());
                    f2 = TDot.Accumulate(f2, high3, Vector256.Create(*(int*)(x2 + o + 44)).AsSByte());
                    f3 = TDot.Accumulate(f3, high3, Vector256.Create(*(int*)(x3 + o + 44)).AsSByte());
                    if (SplitSums<TLayout, TDot>())
                    {
                        var half = GroupScales<TDot>(scales, 1);
                        s0 += Scaled<TDot>(f0, half);
                        s1 += Scaled<TDot>(f1, half);
                        s2 += Scaled<TDot>(f2, half);
                        s3 += Scaled<TDot>(f3, half);
                        f0 = f1 = f2 = f3 = Vector256<int>.Zero;
                    }

                    var high4 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 128), group, 4, h);
                    f0 = TDot.Accumulate(f0, high4, Vector256.Create(*(int*)(x0 + o + 48)).AsSByte());
                    f1 = TDot.Accumulate(f1, high4, Vector256.Create(*(int*)(x1 + o + 48)).AsSByte());
                    f2 = TDot.Accumulate(f2, high4, Vector256.Create(*(int*)(x2 + o + 48)).AsSByte());
                    f3 = TDot.Accumulate(f3, high4, Vector256.Create(*(int*)(x3 + o + 48)).AsSByte());
                    var high5 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 160), group, 5, h);
                    f0 = TDot.Accumulate(f0, high5, Vector256.Create(*(int*)(x0 + o + 52)).AsSByte());
                    f1 = TDot.Accumulate(f1, high5, Vector256.Create(*(int*)(x1 + o + 52)).AsSByte());
                    f2 = TDot.Accumulate(f2, high5, Vector256.Create(*(int*)(x2 + o + 52)).AsSByte());
                    f3 = TDot.Accumulate(f3, high5, Vector256.Create(*(int*)(x3 + o + 52)).AsSByte());
                    var high6 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 192), group, 6, h);
                    f0 = TDot.Accumulate(f0, high6, Vector256.Create(*(int*)(x0 + o + 56)).AsSByte());
                    f1 = TDot.Accumulate(f1, high6, Vector256.Create(*(int*)(x1 + o + 56)).AsSByte());
                    f2 = TDot.Accumulate(f2, high6, Vector256.Create(*(int*)(x2 + o + 56)).AsSByte());
                    f3 = TDot.Accumulate(f3, high6, Vector256.Create(*(int*)(x3 + o + 56)).AsSByte());
                    var high7 = HighLevels<TLayout, TDot>(Avx.LoadVector256(q + 224), group, 7, h);
                    f0 = TDot.Accumulate(f0, high7, Vector256.Create(*(int*)(x0 + o + 60)).AsSByte());
                    f1 = TDot.Accumulate(f1, high7, Vector256.Create(*(int*)(x1 + o + 60)).AsSByte());
                    f2 = TDot.Accumulate(f2, high7, Vector256.Create(*(int*)(x2 + o + 60)).AsSByte());
                    f3 = TDot.Accumulate(f3, high7, Vector256.Create(*(int*)(x3 + o + 60)).AsSByte());

                    var so = GroupScales<TDot>(scales, 1);
                    s0 += Scaled<TDot>(HighSum<TLayout, TDot>(f0), so);
                    s1 += Scaled<TDot>(HighSum<TLayout, TDot>(f1), so);
                    s2 += Scaled<TDot>(HighSum<TLayout, TDot>(f2), so);
                    s3 += Scaled<TDot>(HighSum<TLayout, TDot>(f3), so);
                    scales = Avx2.ShiftRightLogical128BitLane(scales, 8);
                }
            }

            var d = Scales(group);
            AddScaled(y0, s0, d, a0->D);
            AddScaled(y1, s1, d, a1->D);
            AddScaled(y2, s2, d, a2->D);
            AddScaled(y3, s3, d, a3->D);
        }
    }

    /// <summary>
    /// y[t·yStride + 0..15] = two groups' Q4_K or Q5_K rows (<paramref name="groupBytes"/> apart: the first group's eight rows,
    /// then the second's) · token t, for eight Q8_K tokens <paramref name="stride"/> bytes apart, on 512-bit vectors.
    /// As <see cref="Interleaved8.Dot8PairNibblesAvx512{TLayout}"/>: each operand holds one chunk of both groups, the nibbles
    /// (0..15) meet the activations through vpmaddubsw and a 32-value group's eight 16-bit partial sums add up
    /// exactly (8 · 2 · 15 · 128 &lt; 32767; Q5_K's five-bit levels in two halves, see <see cref="GroupSums"/>);
    /// here one vpmaddwd against the rows' six-bit scales, paired in 16-bit halves, widens the group and applies its
    /// scale at once, where AVX-VNNI needs eight vpdpbusd and a vpmulld per eight rows. The integer super-block sums are <see cref="Dot4ScaleMin{TLayout, TDot}"/>'s, and so are the
    /// float steps (mins, then quants, added into the outputs once per super-block), so the results are the same.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot8PairScaleMinAvx512<TLayout>(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
        where TLayout : IScaleMinLayout
    {
        var other = group + groupBytes;
        for (var t = 0; t < 8; t++)
        {
            Vector512<float>.Zero.Store(y + (t * yStride));
        }

        var nibble = Vector512.Create((byte)0x0F);
        var even = Vector512.Create(PairControl(0), PairControl(0));
        var odd = Vector512.Create(PairControl(1), PairControl(1));
        for (var b = 0; b < n / BlockQ4_K.Elements; b++, group += TLayout.GroupBlock, other += TLayout.GroupBlock, activations += sizeof(BlockQ8_K))
        {
            // The mins: min · (sum of the group's 32 activations, two sums of 16) per row, as vpmaddwd of pairs.
            Vector512<int> m0 = default, m1 = default, m2 = default, m3 = default, m4 = default, m5 = default, m6 = default, m7 = default;
            var sums = (int*)((BlockQ8_K*)activations)->Bsums;
            for (var hp = 0; hp < 2; hp++)
            {
                var mins = Avx512F.InsertVector256(
                    Q4_KMins(group + Q4_KMinNibbles + (16 * hp), Avx.LoadVector256(group + Q4_KScales + (32 * hp))).ToVector512Unsafe(),
                    Q4_KMins(other + Q4_KMinNibbles + (16 * hp), Avx.LoadVector256(other + Q4_KScales + (32 * hp))), 1);
                for (var hh = 0; hh < 2; hh++)
                {
                    var g = 2 * ((2 * hp) + hh);
                    var me = Avx512BW.Shuffle(mins, even).AsInt16();
                    var mo = Avx512BW.Shuffle(mins, odd).AsInt16();
                    m0 += MinSums(me, mo, sums, g);
                    m1 += MinSums(me, mo, (int*)((byte*)sums + stride), g);
                    m2 += MinSums(me, mo, (int*)((byte*)sums + (2 * stride)), g);
                    m3 += MinSums(me, mo, (int*)((byte*)sums + (3 * stride)), g);
                    m4 += MinSums(me, mo, (int*)((byte*)sums + (4 * stride)), g);
                    m5 += MinSums(me, mo, (int*)((byte*)sums + (5 * stride)), g);
                    m6 += MinSums(me, mo, (int*)((byte*)sums + (6 * stride)), g);
                    m7 += MinSums(me, mo, (int*)((byte*)sums + (7 * stride)), g);
                    mins = Avx512BW.ShiftRightLogical128BitLane(mins, 8);
                }
            }

            var negatedDmin = -PairScales(group + 16, other + 16);
            AddScaledEight(y, yStride, activations, stride, negatedDmin, m0, m1, m2, m3, m4, m5, m6, m7);

            // The quants: per 32-value group, Σ nibble · a in 16 bits, times the group's scale by vpmaddwd.
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            var x = activations + 4; // BlockQ8_K.Qs
            for (var hp = 0; hp < 2; hp++)
            {
                var scales = Both512(group + Q4_KScales + (32 * hp), other + Q4_KScales + (32 * hp)) & Vector512.Create((byte)0x3F);
                for (var hh = 0; hh < 2; hh++)
                {
                    var h = (2 * hp) + hh;
                    var q = TLayout.Quants + (256 * h);
                    for (var half = 0; half < 2; half++)
                    {
                        // half 0: the low nibbles, group 2h; half 1: the high ones, group 2h + 1 (with Q5_K's fifth bits).
                        var g = (2 * h) + half;
                        var w0 = Levels16<TLayout>(group, other, q, 0, g, nibble);
                        var w1 = Levels16<TLayout>(group, other, q, 1, g, nibble);
                        var w2 = Levels16<TLayout>(group, other, q, 2, g, nibble);
                        var w3 = Levels16<TLayout>(group, other, q, 3, g, nibble);
                        var w4 = Levels16<TLayout>(group, other, q, 4, g, nibble);
                        var w5 = Levels16<TLayout>(group, other, q, 5, g, nibble);
                        var w6 = Levels16<TLayout>(group, other, q, 6, g, nibble);
                        var w7 = Levels16<TLayout>(group, other, q, 7, g, nibble);
                        var scale = Avx512BW.Shuffle(scales, half == 0 ? even : odd).AsInt16();
                        var o = (64 * h) + (32 * half);
                        s0 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + o), TLayout.FifthBits);
                        s1 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + stride + o), TLayout.FifthBits);
                        s2 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (2 * stride) + o), TLayout.FifthBits);
                        s3 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (3 * stride) + o), TLayout.FifthBits);
                        s4 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (4 * stride) + o), TLayout.FifthBits);
                        s5 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (5 * stride) + o), TLayout.FifthBits);
                        s6 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (6 * stride) + o), TLayout.FifthBits);
                        s7 += GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, scale, (int*)(x + (7 * stride) + o), TLayout.FifthBits);
                    }

                    scales = Avx512BW.ShiftRightLogical128BitLane(scales, 8);
                }
            }

            var d = PairScales(group, other);
            AddScaledEight(y, yStride, activations, stride, d, s0, s1, s2, s3, s4, s5, s6, s7);
        }
    }

    /// <summary>
    /// The levels of group <paramref name="g"/> in operand <paramref name="k"/> (at <paramref name="quants"/> + 32k) of both
    /// groups' super-blocks: the low nibbles (g even) or the high ones, with Q5_K's fifth bit (bit g of the qh operand k) as bit 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Levels16<TLayout>(byte* first, byte* second, int quants, int k, int g, Vector512<byte> nibble)
        where TLayout : IScaleMinLayout
    {
        var op = Both512(first + quants + (32 * k), second + quants + (32 * k));
        var levels = ((g & 1) == 0 ? op : Avx512BW.ShiftRightLogical(op.AsUInt16(), 4).AsByte()) & nibble;
        if (!TLayout.FifthBits)
        {
            return levels;
        }

        // Bit g of each qh byte to bit 4: per 16-bit lane, right by g, then left by 4; the mask keeps each byte's own bit.
        var qh = Both512(first + Q5_KHigh + (32 * k), second + Q5_KHigh + (32 * k)).AsUInt16();
        return levels | (((qh >> g) << 4).AsByte() & Vector512.Create((byte)0x10));
    }

    /// <summary>32 bytes at <paramref name="first"/>, then 32 at <paramref name="second"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Both512(byte* first, byte* second) =>
        Avx512F.InsertVector256(Avx.LoadVector256(first).ToVector512Unsafe(), Avx.LoadVector256(second), 1);

    /// <summary>The eight half scales at <paramref name="first"/>, then the eight at <paramref name="second"/>, as floats (<see cref="Scales"/> of each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairScales(byte* first, byte* second) =>
        Avx512F.InsertVector256(Scales(first).ToVector512Unsafe(), Scales(second), 1);

    /// <summary>y_t[0..15] += s_t · scale · d_a(t) for the eight tokens (outputs <paramref name="yStride"/> floats, Q8_K rows <paramref name="stride"/> bytes apart).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaledEight(float* y, int yStride, byte* activations, int stride, Vector512<float> scale,
        Vector512<int> s0, Vector512<int> s1, Vector512<int> s2, Vector512<int> s3, Vector512<int> s4, Vector512<int> s5, Vector512<int> s6, Vector512<int> s7)
    {
        AddScaled16(y, s0, scale, activations);
        AddScaled16(y + yStride, s1, scale, activations + stride);
        AddScaled16(y + (2 * yStride), s2, scale, activations + (2 * stride));
        AddScaled16(y + (3 * yStride), s3, scale, activations + (3 * stride));
        AddScaled16(y + (4 * yStride), s4, scale, activations + (4 * stride));
        AddScaled16(y + (5 * yStride), s5, scale, activations + (5 * stride));
        AddScaled16(y + (6 * yStride), s6, scale, activations + (6 * stride));
        AddScaled16(y + (7 * yStride), s7, scale, activations + (7 * stride));
    }

    /// <summary>Groups g/2 and g/2 + 1's mins (<paramref name="even"/>, <paramref name="odd"/>: int16 pairs per row) · the token's sums of 16 there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> MinSums(Vector512<short> even, Vector512<short> odd, int* sums, int g) =>
        Avx512BW.MultiplyAddAdjacent(even, Vector512.Create(sums[g]).AsInt16()) + Avx512BW.MultiplyAddAdjacent(odd, Vector512.Create(sums[g + 1]).AsInt16());

    /// <summary>y[0..15] += s · scale · d_a, d_a the scale of the Q8_K block at <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled16(float* y, Vector512<int> s, Vector512<float> scale, byte* block) =>
        Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s), scale * Vector512.Create(*(float*)block), Vector512.Load(y)).Store(y);

    /// <summary>
    /// scale_2h · Σ q·a of group 2h plus scale_2h+1 · Σ q·a of group 2h + 1, every row in its lane, with AVX2 alone:
    /// a group's eight vpmaddubsw products add up in 16 bits (Q4_K: 8 · 2 · 15 · 128 = 30720; Q5_K's five-bit
    /// levels, 8 · 2 · 31 · 128, would not fit, so two sums of four: 31744), and one vpmaddwd per sum multiplies the pairs by
    /// the row's scale (<paramref name="evenScales"/>, <paramref name="oddScales"/>: the scale in both halves of the
    /// row's dword) as it widens them. Where <see cref="Q4_KGroups{TLayout, TDot}"/> with <see cref="MaddAccumulate"/>
    /// widens and adds every product, then multiplies with vpmulld: 28 vpmaddwd and two vpmulld fewer per h for
    /// Q4_K. The integer sums are the same, so the results are too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledGroupsMadd<TLayout>(byte* group, int h, sbyte* x, Vector256<short> evenScales, Vector256<short> oddScales)
        where TLayout : IScaleMinLayout
    {
        // Written out: the JIT does not unroll loops, and the loop's counters cost as much as its products.
        var q = group + TLayout.Quants + (256 * h);
        var (even, odd) = Products<TLayout>(q, group, 0, h, x);
        AddProducts<TLayout>(ref even, ref odd, q, group, 1, h, x);
        AddProducts<TLayout>(ref even, ref odd, q, group, 2, h, x);
        AddProducts<TLayout>(ref even, ref odd, q, group, 3, h, x);
        Vector256<int> sum = default;
        if (TLayout.FifthBits)
        {
            sum = Avx2.MultiplyAddAdjacent(even, evenScales) + Avx2.MultiplyAddAdjacent(odd, oddScales);
            (even, odd) = Products<TLayout>(q, group, 4, h, x);
        }
        else
        {
            AddProducts<TLayout>(ref even, ref odd, q, group, 4, h, x);
        }

        AddProducts<TLayout>(ref even, ref odd, q, group, 5, h, x);
        AddProducts<TLayout>(ref even, ref odd, q, group, 6, h, x);
        AddProducts<TLayout>(ref even, ref odd, q, group, 7, h, x);
        return sum + Avx2.MultiplyAddAdjacent(even, evenScales) + Avx2.MultiplyAddAdjacent(odd, oddScales);
    }

    /// <summary>The vpmaddubsw products of operand k: its low levels with x[4k..], its high ones with x[32 + 4k..].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<short> Even, Vector256<short> Odd) Products<TLayout>(byte* q, byte* group, int k, int h, sbyte* x)
        where TLayout : IScaleMinLayout
    {
        var op = Avx.LoadVector256(q + (32 * k));
        return (Avx2.MultiplyAddAdjacent(LowLevels<TLayout>(op, group, k, h), Vector256.Create(*(int*)(x + (4 * k))).AsSByte()),
            Avx2.MultiplyAddAdjacent(HighLevels<TLayout, MaddAccumulate>(op, group, k, h), Vector256.Create(*(int*)(x + 32 + (4 * k))).AsSByte()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddProducts<TLayout>(ref Vector256<short> even, ref Vector256<short> odd, byte* q, byte* group, int k, int h, sbyte* x)
        where TLayout : IScaleMinLayout
    {
        var (e, o) = Products<TLayout>(q, group, k, h, x);
        even += e;
        odd += o;
    }

    /// <summary>The Σ q·a of groups 2h and 2h + 1 (their operands: the 256 bytes of nibbles for h), every row in its lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<int> Even, Vector256<int> Odd) Q4_KGroups<TLayout, TDot>(byte* group, int h, sbyte* x)
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate
    {
        // Unrolled, each sum starting from a product: so the JIT keeps the sums in the registers vpdpbusd accumulates in.
        var q = group + TLayout.Quants + (256 * h);
        var op = Avx.LoadVector256(q);
        var even = TDot.Accumulate(Vector256<int>.Zero, LowLevels<TLayout>(op, group, 0, h), Vector256.Create(*(int*)x).AsSByte());
        var odd = TDot.Accumulate(Vector256<int>.Zero, HighLevels<TLayout, TDot>(op, group, 0, h), Vector256.Create(*(int*)(x + 32)).AsSByte());
        op = Avx.LoadVector256(q + 32);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 1, h), Vector256.Create(*(int*)(x + 4)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 1, h), Vector256.Create(*(int*)(x + 36)).AsSByte());
        op = Avx.LoadVector256(q + 64);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 2, h), Vector256.Create(*(int*)(x + 8)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 2, h), Vector256.Create(*(int*)(x + 40)).AsSByte());
        op = Avx.LoadVector256(q + 96);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 3, h), Vector256.Create(*(int*)(x + 12)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 3, h), Vector256.Create(*(int*)(x + 44)).AsSByte());
        op = Avx.LoadVector256(q + 128);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 4, h), Vector256.Create(*(int*)(x + 16)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 4, h), Vector256.Create(*(int*)(x + 48)).AsSByte());
        op = Avx.LoadVector256(q + 160);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 5, h), Vector256.Create(*(int*)(x + 20)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 5, h), Vector256.Create(*(int*)(x + 52)).AsSByte());
        op = Avx.LoadVector256(q + 192);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 6, h), Vector256.Create(*(int*)(x + 24)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 6, h), Vector256.Create(*(int*)(x + 56)).AsSByte());
        op = Avx.LoadVector256(q + 224);
        even = TDot.Accumulate(even, LowLevels<TLayout>(op, group, 7, h), Vector256.Create(*(int*)(x + 28)).AsSByte());
        odd = TDot.Accumulate(odd, HighLevels<TLayout, TDot>(op, group, 7, h), Vector256.Create(*(int*)(x + 60)).AsSByte());

        return (even, HighSum<TLayout, TDot>(odd));
    }

    /// <summary>
    /// The levels of group 2h from operand k's bytes <paramref name="op"/>: the low nibbles, with Q5_K's fifth bit (bit 2h of
    /// the qh operand k's bytes) as bit 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> LowLevels<TLayout>(Vector256<byte> op, byte* group, int k, int h)
        where TLayout : IScaleMinLayout
    {
        var low = op & Vector256.Create((byte)0x0F);
        if (!TLayout.FifthBits)
        {
            return low;
        }

        var bits = FifthBits(group, k, h);
        return low | (Avx2.ShiftLeftLogical(bits, 4).AsByte() & Vector256.Create((byte)0x10));
    }

    /// <summary>
    /// The levels of group 2h + 1: the high nibbles (in place, q·16, for vpdpbusd without fifth bits; shifted down
    /// otherwise: vpmaddubsw would saturate, and five bits times 16 do not fit a byte), with Q5_K's fifth bit 2h + 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighLevels<TLayout, TDot>(Vector256<byte> op, byte* group, int k, int h)
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate
    {
        if (InPlace<TLayout, TDot>())
        {
            return op & Vector256.Create((byte)0xF0);
        }

        var high = Avx2.ShiftRightLogical(op.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
        if (!TLayout.FifthBits)
        {
            return high;
        }

        var bits = FifthBits(group, k, h);
        return high | (Avx2.ShiftLeftLogical(bits, 3).AsByte() & Vector256.Create((byte)0x10));
    }

    /// <summary>Q5_K's qh operand k shifted right by 2h bits (per 16-bit lane; bits 2h and 2h + 1 of each byte land in bits 0 and 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> FifthBits(byte* group, int k, int h) =>
        Avx2.ShiftRightLogical(Avx.LoadVector256(group + Q5_KHigh + (32 * k)).AsUInt16(), Vector128.CreateScalar((ushort)(2 * h)));

    /// <summary>Whether the high nibbles go in place (×16): with vpdpbusd and four-bit levels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InPlace<TLayout, TDot>()
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate =>
        typeof(TDot) == typeof(VnniAccumulate) && !TLayout.FifthBits;

    /// <summary>
    /// Whether a group's sums must be scaled and restarted after four operands: 16-bit sums
    /// (<see cref="Madd16Accumulate"/>) of five-bit levels, as eight would reach 8 · 2 · 31 · 128 = 63488 (four: 31744).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SplitSums<TLayout, TDot>()
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate =>
        typeof(TDot) == typeof(Madd16Accumulate) && TLayout.FifthBits;

    /// <summary>A high-nibble group sum back to Σ q·a (exact: every term of an in-place sum is a multiple of 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> HighSum<TLayout, TDot>(Vector256<int> sum)
        where TLayout : IScaleMinLayout
        where TDot : IByteDotAccumulate =>
        InPlace<TLayout, TDot>() ? Avx2.ShiftRightArithmetic(sum, 4) : sum;

    /// <summary>
    /// The scales of group 2h + <paramref name="parity"/> (scale byte 2j + parity of each 128-bit lane, for row 4·lane + j) as
    /// <see cref="Scaled{TDot}"/> takes them: zero-extended to the row's dword, or for
    /// <see cref="Madd16Accumulate"/> in both of its int16 halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> GroupScales<TDot>(Vector256<byte> scales, int parity)
        where TDot : IByteDotAccumulate =>
        Avx2.Shuffle(scales, typeof(TDot) == typeof(Madd16Accumulate) ? PairControl(parity) : WordControl(parity)).AsInt32();

    /// <summary>
    /// A group's sums times the rows' scales: vpmulld, or for sums left in 16 bits by <see cref="Madd16Accumulate"/>
    /// one vpmaddwd, which widens each row's pair and multiplies it by the scale at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scaled<TDot>(Vector256<int> sum, Vector256<int> scales)
        where TDot : IByteDotAccumulate =>
        typeof(TDot) == typeof(Madd16Accumulate) ? Avx2.MultiplyAddAdjacent(sum.AsInt16(), scales.AsInt16()) : Avx2.MultiplyLow(sum, scales);

    /// <summary>
    /// The six-bit mins of one half of a Q4_K group super-block (h = 2hp, 2hp + 1), in the scale bytes' order:
    /// the low nibbles from <paramref name="nibbles"/> (16 bytes, one per row and h), bits 4-5 from the top bits
    /// of the scale bytes <paramref name="scaleBytes"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Q4_KMins(byte* nibbles, Vector256<byte> scaleBytes)
    {
        var w = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(nibbles)).AsUInt16();
        var low = (w & Vector256.Create((ushort)0x000F)) | ((w << 4) & Vector256.Create((ushort)0x0F00));
        return low.AsByte() | (Avx2.ShiftRightLogical(scaleBytes.AsUInt16(), 2).AsByte() & Vector256.Create((byte)0x30));
    }

    /// <summary>vpshufb control: in each 128-bit lane, dword j (row 4·lane + j) gets byte 2j + e, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> WordControl(int e) =>
        Vector256.Create(0x80808000u | (uint)e, 0x80808002u | (uint)e, 0x80808004u | (uint)e, 0x80808006u | (uint)e,
            0x80808000u | (uint)e, 0x80808002u | (uint)e, 0x80808004u | (uint)e, 0x80808006u | (uint)e).AsByte();

    /// <summary>vpshufb control: in each 128-bit lane, dword j gets byte 2j + e in both int16 halves (a min paired with itself for vpmaddwd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> PairControl(int e) =>
        Vector256.Create(0x80008000u | (0x10001u * (uint)e), 0x80028002u | (0x10001u * (uint)e), 0x80048004u | (0x10001u * (uint)e), 0x80068006u | (0x10001u * (uint)e),
            0x80008000u | (0x10001u * (uint)e), 0x80028002u | (0x10001u * (uint)e), 0x80048004u | (0x10001u * (uint)e), 0x80068006u | (0x10001u * (uint)e)).AsByte();
}
