using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>
/// The x86 products of eight interleaved Q6_K rows (<see cref="Interleaved8"/>'s Q6_K layout) with Q8_K
/// activations, in integers as ggml's Q6_K · Q8_K: the six-bit levels (0..63) of four values of every row per
/// operand, four byte-product instructions per group of 16, times the group's signed scale (vpmulld) into one
/// sum per super-block, which starts from −32 · Σ_g sc_g · (Σ a of group g) for the levels' offset; then one
/// conversion and multiply-add by d·d_a. vpmaddubsw cannot saturate here (2·63·127 &lt; 32767).
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = the eight Q6_K rows · one Q8_K token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotQ6_K<TDot>(byte* group, byte* activations, int n, float* y)
        where TDot : IByteDotAccumulate
    {
        var a = (BlockQ8_K*)activations;
        Vector256<float> acc = default;
        for (var b = 0; b < n / BlockQ6_K.Elements; b++, group += Q6_KGroupBlock, a++)
        {
            var sums = (int*)a->Bsums;
            var offset = Vector256<int>.Zero;
            for (var p = 0; p < 8; p++)
            {
                offset += Avx2.MultiplyAddAdjacent(Q6_KScalePair(group, p), Vector256.Create(sums[p]).AsInt16());
            }

            var s = Vector256<int>.Zero - Avx2.ShiftLeftLogical(offset, 5);
            var x = a->Qs;
            for (var h = 0; h < 2; h++, x += 128)
            {
                // Values 0..15 of each quarter (the even groups), then 16..31 (the odd ones): each ql and qh operand
                // is loaded once and gives the levels of all four quarters.
                s += Q6_KHalfGroups<TDot>(group, h, 0, x);
                s += Q6_KHalfGroups<TDot>(group, h, 1, x + 16);
            }

            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Scales(group) * Vector256.Create(a->D), acc);
        }

        acc.Store(y);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = the eight Q6_K rows · token t, for four Q8_K tokens <paramref name="stride"/> bytes
    /// apart: each operand's levels are made once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Q6_K<TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TDot : IByteDotAccumulate
    {
        BlockQ8_K* a0 = (BlockQ8_K*)activations, a1 = (BlockQ8_K*)(activations + stride), a2 = (BlockQ8_K*)(activations + (2 * stride)), a3 = (BlockQ8_K*)(activations + (3 * stride));

        // As in Dot4Q4_K, the results accumulate in y, which leaves registers for vpdpbusd's accumulators.
        float* y0 = y, y1 = y + yStride, y2 = y + (2 * yStride), y3 = y + (3 * yStride);
        ClearOutputs(y, yStride);
        for (var b = 0; b < n / BlockQ6_K.Elements; b++, group += Q6_KGroupBlock, a0++, a1++, a2++, a3++)
        {
            Vector256<int> o0 = default, o1 = default, o2 = default, o3 = default;
            int* b0 = (int*)a0->Bsums, b1 = (int*)a1->Bsums, b2 = (int*)a2->Bsums, b3 = (int*)a3->Bsums;
            for (var p = 0; p < 8; p++)
            {
                var pair = Q6_KScalePair(group, p);
                o0 += Avx2.MultiplyAddAdjacent(pair, Vector256.Create(b0[p]).AsInt16());
                o1 += Avx2.MultiplyAddAdjacent(pair, Vector256.Create(b1[p]).AsInt16());
                o2 += Avx2.MultiplyAddAdjacent(pair, Vector256.Create(b2[p]).AsInt16());
                o3 += Avx2.MultiplyAddAdjacent(pair, Vector256.Create(b3[p]).AsInt16());
            }

            var s0 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(o0, 5);
            var s1 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(o1, 5);
            var s2 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(o2, 5);
            var s3 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(o3, 5);
            sbyte* x0 = a0->Qs, x1 = a1->Qs, x2 = a2->Qs, x3 = a3->Qs;
            for (var h = 0; h < 2; h++)
            {
                Q6_KQuarter4<TDot>(group, h, 0, x0, x1, x2, x3, ref s0, ref s1, ref s2, ref s3);
                Q6_KQuarter4<TDot>(group, h, 1, x0, x1, x2, x3, ref s0, ref s1, ref s2, ref s3);
                Q6_KQuarter4<TDot>(group, h, 2, x0, x1, x2, x3, ref s0, ref s1, ref s2, ref s3);
                Q6_KQuarter4<TDot>(group, h, 3, x0, x1, x2, x3, ref s0, ref s1, ref s2, ref s3);
            }

            var d = Scales(group);
            AddScaled(y0, s0, d, a0->D);
            AddScaled(y1, s1, d, a1->D);
            AddScaled(y2, s2, d, a2->D);
            AddScaled(y3, s3, d, a3->D);
        }
    }

    /// <summary>
    /// y[t·yStride + 0..15] = two groups' Q6_K rows (<paramref name="groupBytes"/> apart: the first group's eight rows,
    /// then the second's) · token t, for eight Q8_K tokens <paramref name="stride"/> bytes apart, on 512-bit vectors,
    /// as <see cref="Dot8PairScaleMinAvx512{TLayout}"/>: each operand holds the levels (0..63) of one chunk of both groups, and
    /// vpmaddubsw meets them with a broadcast group of four activation bytes. Two such products add up in 16 bits
    /// (2 · 2 · 63 · 128 = 32256 &lt; 32767), so a group of 16 values widens through two vpmaddwd against its rows'
    /// scales, paired in 16-bit halves, where AVX-VNNI needs four vpdpbusd and a vpmulld per eight rows. The integer
    /// super-block sums (from −32 · Σ sc · Σ a for the levels' offset) and the float step are
    /// <see cref="Dot4Q6_K{TDot}"/>'s, so the results are the same.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot8PairQ6_KAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
    {
        var other = group + groupBytes;
        for (var t = 0; t < 8; t++)
        {
            Vector512<float>.Zero.Store(y + (t * yStride));
        }

        // vpshufb controls: each row's int16 scale of group 2p (e = 0) or 2p + 1 (e = 1) in both halves of its lane.
        var even = Vector512.Create(0x01000100u, 0x05040504u, 0x09080908u, 0x0D0C0D0Cu, 0x01000100u, 0x05040504u, 0x09080908u, 0x0D0C0D0Cu,
            0x01000100u, 0x05040504u, 0x09080908u, 0x0D0C0D0Cu, 0x01000100u, 0x05040504u, 0x09080908u, 0x0D0C0D0Cu).AsByte();
        var odd = even + Vector512.Create((byte)2);
        for (var b = 0; b < n / BlockQ6_K.Elements; b++, group += Q6_KGroupBlock, other += Q6_KGroupBlock, activations += sizeof(BlockQ8_K))
        {
            // The levels' offset: −32 · Σ_g sc_g · (Σ a of group g), from the pairs of scales and of sums of 16.
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            var sums = activations + 4 + 256; // BlockQ8_K.Bsums
            for (var p = 0; p < 8; p++)
            {
                var pair = Q6_KScalePairs16(group, other, p);
                s0 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (4 * p))).AsInt16());
                s1 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + stride + (4 * p))).AsInt16());
                s2 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (2 * stride) + (4 * p))).AsInt16());
                s3 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (3 * stride) + (4 * p))).AsInt16());
                s4 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (4 * stride) + (4 * p))).AsInt16());
                s5 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (5 * stride) + (4 * p))).AsInt16());
                s6 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (6 * stride) + (4 * p))).AsInt16());
                s7 += Avx512BW.MultiplyAddAdjacent(pair, Vector512.Create(*(int*)(sums + (7 * stride) + (4 * p))).AsInt16());
            }

            s0 = Vector512<int>.Zero - (s0 << 5);
            s1 = Vector512<int>.Zero - (s1 << 5);
            s2 = Vector512<int>.Zero - (s2 << 5);
            s3 = Vector512<int>.Zero - (s3 << 5);
            s4 = Vector512<int>.Zero - (s4 << 5);
            s5 = Vector512<int>.Zero - (s5 << 5);
            s6 = Vector512<int>.Zero - (s6 << 5);
            s7 = Vector512<int>.Zero - (s7 << 5);

            var x = activations + 4; // BlockQ8_K.Qs
            for (var h = 0; h < 2; h++)
            {
                for (var i = 0; i < 4; i++)
                {
                    // Quarter i of half h: values 32p .. 32p + 31 (p = 4h + i), groups 2p (operands k = 0..3) and 2p + 1 (k = 4..7).
                    var pairs = Q6_KScalePairs16(group, other, (4 * h) + i).AsByte();
                    for (var e = 0; e < 2; e++)
                    {
                        var triple = Q6_KTriple(h, 4 * e);
                        var v0 = Q6_KLevels16(group + triple, other + triple, i);
                        var v1 = Q6_KLevels16(group + triple + 96, other + triple + 96, i);
                        var v2 = Q6_KLevels16(group + triple + 192, other + triple + 192, i);
                        var v3 = Q6_KLevels16(group + triple + 288, other + triple + 288, i);
                        var scale = Avx512BW.Shuffle(pairs, e == 0 ? even : odd).AsInt16();
                        var o = (128 * h) + (32 * i) + (16 * e);
                        s0 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + o));
                        s1 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + stride + o));
                        s2 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (2 * stride) + o));
                        s3 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (3 * stride) + o));
                        s4 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (4 * stride) + o));
                        s5 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (5 * stride) + o));
                        s6 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (6 * stride) + o));
                        s7 += ScaledSixteen(v0, v1, v2, v3, scale, (int*)(x + (7 * stride) + o));
                    }
                }
            }

            AddScaledEight(y, yStride, activations, stride, PairScales(group, other),
                s0, s1, s2, s3, s4, s5, s6, s7);
        }
    }

    /// <summary>The scale pairs (sc_2p, sc_2p+1) of both groups' sixteen rows as int16 pairs, one per row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Q6_KScalePairs16(byte* first, byte* second, int p) =>
        Avx512BW.ConvertToVector512Int16(Vector256.Create(
            Sse2.LoadVector128((sbyte*)first + Q6_KScales + (16 * p)), Sse2.LoadVector128((sbyte*)second + Q6_KScales + (16 * p))));

    /// <summary>Quarter <paramref name="i"/>'s six-bit levels from both groups' operand triples (<see cref="Q6_KLevels"/>'s, sixteen rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Q6_KLevels16(byte* first, byte* second, int i)
    {
        var ql = Both512(first + (32 * (i & 1)), second + (32 * (i & 1)));
        var qh = Both512(first + 64, second + 64).AsUInt16();
        var low4 = Vector512.Create((byte)0x0F);
        var nibbles = i < 2 ? ql & low4 : Avx512BW.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & low4;
        var bits = i switch
        {
            0 => Avx512BW.ShiftLeftLogical(qh, 4),
            1 => Avx512BW.ShiftLeftLogical(qh, 2),
            2 => qh,
            _ => Avx512BW.ShiftRightLogical(qh, 2),
        };
        return nibbles | (bits.AsByte() & Vector512.Create((byte)0x30));
    }

    /// <summary>
    /// One token's 16-value group for sixteen rows: Σ level · a per row, two operands at a time in 16 bits (exact,
    /// see <see cref="Dot8PairQ6_KAvx512"/>), each half widened against the rows' scales (int16 pairs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> ScaledSixteen(Vector512<byte> v0, Vector512<byte> v1, Vector512<byte> v2, Vector512<byte> v3, Vector512<short> scale, int* a)
    {
        var p01 = Avx512BW.MultiplyAddAdjacent(v0, Vector512.Create(a[0]).AsSByte()) + Avx512BW.MultiplyAddAdjacent(v1, Vector512.Create(a[1]).AsSByte());
        var p23 = Avx512BW.MultiplyAddAdjacent(v2, Vector512.Create(a[2]).AsSByte()) + Avx512BW.MultiplyAddAdjacent(v3, Vector512.Create(a[3]).AsSByte());
        return Avx512BW.MultiplyAddAdjacent(p01, scale) + Avx512BW.MultiplyAddAdjacent(p23, scale);
    }

    /// <summary>
    /// Groups 2p + <paramref name="e"/> for the four quarters of half <paramref name="h"/> (p = 4h + i): values
    /// 16e..16e + 15 of every quarter against the activations from <paramref name="x"/>, each times its scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6_KHalfGroups<TDot>(byte* group, int h, int e, sbyte* x)
        where TDot : IByteDotAccumulate
    {
        var triple = group + Q6_KTriple(h, 4 * e);
        Vector256<int> q0 = default, q1 = default, q2 = default, q3 = default;
        for (var k = 0; k < 4; k++, triple += 96)
        {
            var (v0, v1, v2, v3) = KQuantsX86.Q6Levels(triple, triple + 64);
            q0 = TDot.Accumulate(q0, v0, Vector256.Create(*(int*)(x + (4 * k))).AsSByte());
            q1 = TDot.Accumulate(q1, v1, Vector256.Create(*(int*)(x + 32 + (4 * k))).AsSByte());
            q2 = TDot.Accumulate(q2, v2, Vector256.Create(*(int*)(x + 64 + (4 * k))).AsSByte());
            q3 = TDot.Accumulate(q3, v3, Vector256.Create(*(int*)(x + 96 + (4 * k))).AsSByte());
        }

        return Avx2.MultiplyLow(q0, Q6_KScale(group, 4 * h, e)) + Avx2.MultiplyLow(q1, Q6_KScale(group, (4 * h) + 1, e))
            + Avx2.MultiplyLow(q2, Q6_KScale(group, (4 * h) + 2, e)) + Avx2.MultiplyLow(q3, Q6_KScale(group, (4 * h) + 3, e));
    }

    /// <summary>The scale of group 2p + <paramref name="e"/> of the eight rows, one int32 per row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6_KScale(byte* group, int p, int e)
    {
        var pair = Q6_KScalePair(group, p).AsInt32();
        return e == 0 ? Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(pair, 16), 16) : Avx2.ShiftRightArithmetic(pair, 16);
    }

    /// <summary>
    /// Quarter <paramref name="i"/> of half <paramref name="h"/> (32 values of every row, groups 2p and 2p + 1 with
    /// p = 4h + i) for four tokens: Σ_e sc_(2p+e) · Σ q·a added to each token's sums, every row in its lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KQuarter4<TDot>(byte* group, int h, int i, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3)
        where TDot : IByteDotAccumulate
    {
        var q = group + Q6_KTriple(h, 0);
        var o = (128 * h) + (32 * i);
        var v0 = Q6_KLevels(q + 0, i);
        var e0 = TDot.Accumulate(Vector256<int>.Zero, v0, Vector256.Create(*(int*)(x0 + o + 0)).AsSByte());
        var e1 = TDot.Accumulate(Vector256<int>.Zero, v0, Vector256.Create(*(int*)(x1 + o + 0)).AsSByte());
        var e2 = TDot.Accumulate(Vector256<int>.Zero, v0, Vector256.Create(*(int*)(x2 + o + 0)).AsSByte());
        var e3 = TDot.Accumulate(Vector256<int>.Zero, v0, Vector256.Create(*(int*)(x3 + o + 0)).AsSByte());
        var v1 = Q6_KLevels(q + 96, i);
        e0 = TDot.Accumulate(e0, v1, Vector256.Create(*(int*)(x0 + o + 4)).AsSByte());
        e1 = TDot.Accumulate(e1, v1, Vector256.Create(*(int*)(x1 + o + 4)).AsSByte());
        e2 = TDot.Accumulate(e2, v1, Vector256.Create(*(int*)(x2 + o + 4)).AsSByte());
        e3 = TDot.Accumulate(e3, v1, Vector256.Create(*(int*)(x3 + o + 4)).AsSByte());
        var v2 = Q6_KLevels(q + 192, i);
        e0 = TDot.Accumulate(e0, v2, Vector256.Create(*(int*)(x0 + o + 8)).AsSByte());
        e1 = TDot.Accumulate(e1, v2, Vector256.Create(*(int*)(x1 + o + 8)).AsSByte());
        e2 = TDot.Accumulate(e2, v2, Vector256.Create(*(int*)(x2 + o + 8)).AsSByte());
        e3 = TDot.Accumulate(e3, v2, Vector256.Create(*(int*)(x3 + o + 8)).AsSByte());
        var v3 = Q6_KLevels(q + 288, i);
        e0 = TDot.Accumulate(e0, v3, Vector256.Create(*(int*)(x0 + o + 12)).AsSByte());
        e1 = TDot.Accumulate(e1, v3, Vector256.Create(*(int*)(x1 + o + 12)).AsSByte());
        e2 = TDot.Accumulate(e2, v3, Vector256.Create(*(int*)(x2 + o + 12)).AsSByte());
        e3 = TDot.Accumulate(e3, v3, Vector256.Create(*(int*)(x3 + o + 12)).AsSByte());
        var sc0 = Q6_KScale(group, (4 * h) + i, 0);
        s0 += Avx2.MultiplyLow(e0, sc0);
        s1 += Avx2.MultiplyLow(e1, sc0);
        s2 += Avx2.MultiplyLow(e2, sc0);
        s3 += Avx2.MultiplyLow(e3, sc0);

        var v4 = Q6_KLevels(q + 384, i);
        var f0 = TDot.Accumulate(Vector256<int>.Zero, v4, Vector256.Create(*(int*)(x0 + o + 16)).AsSByte());
        var f1 = TDot.Accumulate(Vector256<int>.Zero, v4, Vector256.Create(*(int*)(x1 + o + 16)).AsSByte());
        var f2 = TDot.Accumulate(Vector256<int>.Zero, v4, Vector256.Create(*(int*)(x2 + o + 16)).AsSByte());
        var f3 = TDot.Accumulate(Vector256<int>.Zero, v4, Vector256.Create(*(int*)(x3 + o + 16)).AsSByte());
        var v5 = Q6_KLevels(q + 480, i);
        f0 = TDot.Accumulate(f0, v5, Vector256.Create(*(int*)(x0 + o + 20)).AsSByte());
        f1 = TDot.Accumulate(f1, v5, Vector256.Create(*(int*)(x1 + o + 20)).AsSByte());
        f2 = TDot.Accumulate(f2, v5, Vector256.Create(*(int*)(x2 + o + 20)).AsSByte());
        f3 = TDot.Accumulate(f3, v5, Vector256.Create(*(int*)(x3 + o + 20)).AsSByte());
        var v6 = Q6_KLevels(q + 576, i);
        f0 = TDot.Accumulate(f0, v6, Vector256.Create(*(int*)(x0 + o + 24)).AsSByte());
        f1 = TDot.Accumulate(f1, v6, Vector256.Create(*(int*)(x1 + o + 24)).AsSByte());
        f2 = TDot.Accumulate(f2, v6, Vector256.Create(*(int*)(x2 + o + 24)).AsSByte());
        f3 = TDot.Accumulate(f3, v6, Vector256.Create(*(int*)(x3 + o + 24)).AsSByte());
        var v7 = Q6_KLevels(q + 672, i);
        f0 = TDot.Accumulate(f0, v7, Vector256.Create(*(int*)(x0 + o + 28)).AsSByte());
        f1 = TDot.Accumulate(f1, v7, Vector256.Create(*(int*)(x1 + o + 28)).AsSByte());
        f2 = TDot.Accumulate(f2, v7, Vector256.Create(*(int*)(x2 + o + 28)).AsSByte());
        f3 = TDot.Accumulate(f3, v7, Vector256.Create(*(int*)(x3 + o + 28)).AsSByte());
        var sc1 = Q6_KScale(group, (4 * h) + i, 1);
        s0 += Avx2.MultiplyLow(f0, sc1);
        s1 += Avx2.MultiplyLow(f1, sc1);
        s2 += Avx2.MultiplyLow(f2, sc1);
        s3 += Avx2.MultiplyLow(f3, sc1);
    }

    /// <summary>The scales of groups 2p and 2p + 1 of the eight rows: int16 pairs (sc_2p, sc_2p+1), one per row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Q6_KScalePair(byte* group, int p) =>
        Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)group + Q6_KScales + (16 * p)));

    /// <summary>The six-bit levels of quarter <paramref name="i"/> from an operand triple (its ql operand, then the qh one; as Q6_K.cs's layout says).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Q6_KLevels(byte* triple, int i) =>
        KQuantsX86.Q6Level(Avx.LoadVector256(triple + (32 * (i & 1))), Avx.LoadVector256(triple + 64), i);
}
