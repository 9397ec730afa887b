using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>A block of eight interleaved rows (<see cref="Interleaved8"/>) read as eight 32-byte operands.</summary>
internal unsafe interface IInterleavedBlock
{
    /// <summary>Bytes of the eight rows' block.</summary>
    static abstract int Bytes { get; }

    /// <summary>
    /// The operand bytes are the quants plus 2^OffsetShift (Q4_0's nibbles: q + 8; Q8_0 read unsigned: q + 128),
    /// or exactly the quants when negative. The integer sums start from −Σa · 2^OffsetShift to take it back.
    /// </summary>
    static abstract int OffsetShift { get; }

    /// <summary>Operand <paramref name="k"/> (0..7): quant values 4k..4k+3 of each of the eight rows, in row order.</summary>
    static abstract Vector256<byte> Operand(byte* block, int k);
}

/// <summary>Adds Σ of four byte products per int32 lane to an accumulator.</summary>
internal interface IByteDotAccumulate
{
    static abstract Vector256<int> Accumulate(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> a);
}

/// <summary>AVX-VNNI: vpdpbusd, unsigned weights × signed activations.</summary>
internal readonly struct VnniAccumulate : IByteDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> a) => AvxVnni.MultiplyWideningAndAdd(acc, w, a);
}

/// <summary>AVX2: vpmaddubsw + vpmaddwd; exact while 2·w·|a| ≤ 32767 (w ≤ 15: Q4_0's nibbles).</summary>
internal readonly struct MaddAccumulate : IByteDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> a) =>
        acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(w, a), Vector256.Create((short)1));
}

/// <summary>
/// AVX2: vpmaddubsw products added in 16 bits, the int32 accumulator read as sixteen int16 lanes (the caller widens
/// each row's pair with vpmaddwd, which can multiply it by the row's scale at once). Exact while the sum of the
/// products a caller adds stays within ±32767: eight of Q4_K's four-bit levels against Q8_K, 8 · 2 · 15 · 128 = 30720;
/// four of Q5_K's five-bit ones, 31744.
/// </summary>
internal readonly struct Madd16Accumulate : IByteDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> a) =>
        (acc.AsInt16() + Avx2.MultiplyAddAdjacent(w, a)).AsInt32();
}

/// <summary>AVX2 for signed weights: |w| · sign(a, w) through vpmaddubsw (exact for |w|, |a| ≤ 127).</summary>
internal readonly struct SignAccumulate : IByteDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> a)
    {
        var s = w.AsSByte();
        return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(s), Avx2.Sign(a, s)), Vector256.Create((short)1));
    }
}

/// <summary>
/// The x86 products of eight interleaved rows with <see cref="Q8Activations"/>. Per block and token: eight
/// byte-product instructions, each pairing one operand with a broadcast group of four activation bytes,
/// sum the block for all eight rows in eight int32 lanes, starting from the block's offset correction
/// (−Σa · offset, from the activations' negated block sums), so the sums are exactly Σ q·a as ggml's are;
/// one conversion and one multiply-add by the rows' scales times the token's scale follow. Results are
/// the row kernels' within float rounding.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>
    /// A Q4_0 block's sums with vpdpbusd, the high nibbles taken in place (q·16, exact in int32) in a second chain
    /// and shifted back: one instruction fewer per high operand, and two chains of four instead of one of eight.
    /// The integer sums are the same, so the results are too; from L3 a 5632×2048 product ran 3–7% faster (75–80
    /// against 81 GB/s), which is what decoding needs when memory reads faster than the arithmetic keeps up with.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SumQ4_0InPlace(Vector256<int> start, byte* block, int* a)
    {
        var c0 = Avx.LoadVector256(block + 16);
        var c1 = Avx.LoadVector256(block + 48);
        var c2 = Avx.LoadVector256(block + 80);
        var c3 = Avx.LoadVector256(block + 112);
        var low = Vector256.Create((byte)0x0F);
        var high = Vector256.Create((byte)0xF0);
        var s = AvxVnni.MultiplyWideningAndAdd(start, c0 & low, Vector256.Create(a[0]).AsSByte());
        var t = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, c0 & high, Vector256.Create(a[4]).AsSByte());
        s = AvxVnni.MultiplyWideningAndAdd(s, c1 & low, Vector256.Create(a[1]).AsSByte());
        t = AvxVnni.MultiplyWideningAndAdd(t, c1 & high, Vector256.Create(a[5]).AsSByte());
        s = AvxVnni.MultiplyWideningAndAdd(s, c2 & low, Vector256.Create(a[2]).AsSByte());
        t = AvxVnni.MultiplyWideningAndAdd(t, c2 & high, Vector256.Create(a[6]).AsSByte());
        s = AvxVnni.MultiplyWideningAndAdd(s, c3 & low, Vector256.Create(a[3]).AsSByte());
        t = AvxVnni.MultiplyWideningAndAdd(t, c3 & high, Vector256.Create(a[7]).AsSByte());
        return s + Avx2.ShiftRightArithmetic(t, 4);
    }

    /// <summary>
    /// A Q4_0 block's sums with AVX2: the eight vpmaddubsw products add up in 16 bits, which cannot overflow
    /// (8 · 2 · 15 · 128 = 30720), and one vpmaddwd widens them, where <see cref="MaddAccumulate"/> widens and adds
    /// each product: seven vpmaddwd and seven additions fewer per block. The integer sums are the same, so the
    /// results are too. On a Zen 4 core a 5632 × 2048 product from L3 ran at 31 GB/s before; this is what decoding
    /// needs where memory reads faster than that (see README, Speed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SumQ4_0Madd(Vector256<int> start, byte* block, int* a)
    {
        var c0 = Avx.LoadVector256(block + 16);
        var c1 = Avx.LoadVector256(block + 48);
        var c2 = Avx.LoadVector256(block + 80);
        var c3 = Avx.LoadVector256(block + 112);
        var low = Vector256.Create((byte)0x0F);
        var p = (Avx2.MultiplyAddAdjacent(c0 & low, Vector256.Create(a[0]).AsSByte()) + Avx2.MultiplyAddAdjacent(c1 & low, Vector256.Create(a[1]).AsSByte()))
            + (Avx2.MultiplyAddAdjacent(c2 & low, Vector256.Create(a[2]).AsSByte()) + Avx2.MultiplyAddAdjacent(c3 & low, Vector256.Create(a[3]).AsSByte()));
        var q = (Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & low, Vector256.Create(a[4]).AsSByte())
                + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & low, Vector256.Create(a[5]).AsSByte()))
            + (Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(c2.AsUInt16(), 4).AsByte() & low, Vector256.Create(a[6]).AsSByte())
                + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(c3.AsUInt16(), 4).AsByte() & low, Vector256.Create(a[7]).AsSByte()));
        return start + Avx2.MultiplyAddAdjacent(p + q, Vector256.Create((short)1));
    }

    /// <summary>y[0..7] = rows · x for one token.</summary>
    [SkipLocalsInit]
    // A long loop entered a few hundred times per token: tiering would leave it in instrumented tier 0 for
    // seconds. Not inlined: inlined into its wrapper at tier 1 (or by NativeAOT), the JIT ran out of inlining
    // budget and called Sum and Start, at a third of the speed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot<TBlock, TDot>(byte* group, byte* activations, int n, float* y)
        where TBlock : IInterleavedBlock
        where TDot : IByteDotAccumulate
    {
        var nb = n / Q8Activations.BlockSize;
        var aq = (int*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var am = Q8Activations.NegatedSums(activations, n);
        Vector256<float> acc = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes, aq += 8)
        {
            var s = typeof(TBlock) == typeof(Q4_0x8) && typeof(TDot) == typeof(VnniAccumulate)
                ? SumQ4_0InPlace(Start<TBlock>(am, b), group, aq)
                : typeof(TBlock) == typeof(Q4_0x8) && typeof(TDot) == typeof(MaddAccumulate)
                ? SumQ4_0Madd(Start<TBlock>(am, b), group, aq)
                : Sum<TDot>(Start<TBlock>(am, b), TBlock.Operand(group, 0), TBlock.Operand(group, 1), TBlock.Operand(group, 2), TBlock.Operand(group, 3),
                    TBlock.Operand(group, 4), TBlock.Operand(group, 5), TBlock.Operand(group, 6), TBlock.Operand(group, 7), aq);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Scales(group) * Vector256.Create(ad[b]), acc);
        }

        acc.Store(y);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = rows · x_t for four tokens (<paramref name="stride"/> bytes apart): the block's
    /// eight operands are loaded and unpacked once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlock
        where TDot : IByteDotAccumulate
    {
        var nb = n / Q8Activations.BlockSize;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        int* m0 = Q8Activations.NegatedSums(x0, n), m1 = Q8Activations.NegatedSums(x1, n), m2 = Q8Activations.NegatedSums(x2, n), m3 = Q8Activations.NegatedSums(x3, n);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var w0 = TBlock.Operand(group, 0);
            var w1 = TBlock.Operand(group, 1);
            var w2 = TBlock.Operand(group, 2);
            var w3 = TBlock.Operand(group, 3);
            var w4 = TBlock.Operand(group, 4);
            var w5 = TBlock.Operand(group, 5);
            var w6 = TBlock.Operand(group, 6);
            var w7 = TBlock.Operand(group, 7);
            var dw = Scales(group);
            var q = b * Q8Activations.BlockSize;
            var s0 = Sum<TDot>(Start<TBlock>(m0, b), w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x0 + q));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), dw * Vector256.Create(d0[b]), acc0);
            var s1 = Sum<TDot>(Start<TBlock>(m1, b), w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x1 + q));
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), dw * Vector256.Create(d1[b]), acc1);
            var s2 = Sum<TDot>(Start<TBlock>(m2, b), w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x2 + q));
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), dw * Vector256.Create(d2[b]), acc2);
            var s3 = Sum<TDot>(Start<TBlock>(m3, b), w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x3 + q));
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), dw * Vector256.Create(d3[b]), acc3);
        }

        acc0.Store(y);
        acc1.Store(y + yStride);
        acc2.Store(y + (2 * yStride));
        acc3.Store(y + (3 * yStride));
    }

    /// <summary>
    /// y[t·yStride + 0..15] = rows · x_t for two groups (<paramref name="groupBytes"/> apart, rows 0..7 and
    /// 8..15) and four tokens: each broadcast activation group feeds both groups' operands, which halves the
    /// broadcasts per product; about a third faster than two <see cref="Dot4{TBlock, TDot}"/> calls on Zen 4.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Pair<TBlock, TDot>(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlock
        where TDot : IByteDotAccumulate
    {
        var nb = n / Q8Activations.BlockSize;
        var other = group + groupBytes;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        int* m0 = Q8Activations.NegatedSums(x0, n), m1 = Q8Activations.NegatedSums(x1, n), m2 = Q8Activations.NegatedSums(x2, n), m3 = Q8Activations.NegatedSums(x3, n);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes, other += TBlock.Bytes)
        {
            var w0 = TBlock.Operand(group, 0);
            var w1 = TBlock.Operand(group, 1);
            var w2 = TBlock.Operand(group, 2);
            var w3 = TBlock.Operand(group, 3);
            var w4 = TBlock.Operand(group, 4);
            var w5 = TBlock.Operand(group, 5);
            var w6 = TBlock.Operand(group, 6);
            var w7 = TBlock.Operand(group, 7);
            var v0 = TBlock.Operand(other, 0);
            var v1 = TBlock.Operand(other, 1);
            var v2 = TBlock.Operand(other, 2);
            var v3 = TBlock.Operand(other, 3);
            var v4 = TBlock.Operand(other, 4);
            var v5 = TBlock.Operand(other, 5);
            var v6 = TBlock.Operand(other, 6);
            var v7 = TBlock.Operand(other, 7);
            var dw = Scales(group);
            var dv = Scales(other);
            // The four tokens are written out: through a helper taking the accumulators by reference, the
            // JIT copied every vpdpbusd's accumulator in and out of one register (68 extra moves per block).
            var q = b * Q8Activations.BlockSize;
            var s0 = Start<TBlock>(m0, b);
            var r0 = s0;
            var x0q = (int*)(x0 + q);
            var g00 = Vector256.Create(x0q[0]).AsSByte();
            s0 = TDot.Accumulate(s0, w0, g00);
            r0 = TDot.Accumulate(r0, v0, g00);
            var g01 = Vector256.Create(x0q[1]).AsSByte();
            s0 = TDot.Accumulate(s0, w1, g01);
            r0 = TDot.Accumulate(r0, v1, g01);
            var g02 = Vector256.Create(x0q[2]).AsSByte();
            s0 = TDot.Accumulate(s0, w2, g02);
            r0 = TDot.Accumulate(r0, v2, g02);
            var g03 = Vector256.Create(x0q[3]).AsSByte();
            s0 = TDot.Accumulate(s0, w3, g03);
            r0 = TDot.Accumulate(r0, v3, g03);
            var g04 = Vector256.Create(x0q[4]).AsSByte();
            s0 = TDot.Accumulate(s0, w4, g04);
            r0 = TDot.Accumulate(r0, v4, g04);
            var g05 = Vector256.Create(x0q[5]).AsSByte();
            s0 = TDot.Accumulate(s0, w5, g05);
            r0 = TDot.Accumulate(r0, v5, g05);
            var g06 = Vector256.Create(x0q[6]).AsSByte();
            s0 = TDot.Accumulate(s0, w6, g06);
            r0 = TDot.Accumulate(r0, v6, g06);
            var g07 = Vector256.Create(x0q[7]).AsSByte();
            s0 = TDot.Accumulate(s0, w7, g07);
            r0 = TDot.Accumulate(r0, v7, g07);
            var e0 = Vector256.Create(d0[b]);
            a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), dw * e0, a0);
            b0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(r0), dv * e0, b0);

            var s1 = Start<TBlock>(m1, b);
            var r1 = s1;
            var x1q = (int*)(x1 + q);
            var g10 = Vector256.Create(x1q[0]).AsSByte();
            s1 = TDot.Accumulate(s1, w0, g10);
            r1 = TDot.Accumulate(r1, v0, g10);
            var g11 = Vector256.Create(x1q[1]).AsSByte();
            s1 = TDot.Accumulate(s1, w1, g11);
            r1 = TDot.Accumulate(r1, v1, g11);
            var g12 = Vector256.Create(x1q[2]).AsSByte();
            s1 = TDot.Accumulate(s1, w2, g12);
            r1 = TDot.Accumulate(r1, v2, g12);
            var g13 = Vector256.Create(x1q[3]).AsSByte();
            s1 = TDot.Accumulate(s1, w3, g13);
            r1 = TDot.Accumulate(r1, v3, g13);
            var g14 = Vector256.Create(x1q[4]).AsSByte();
            s1 = TDot.Accumulate(s1, w4, g14);
            r1 = TDot.Accumulate(r1, v4, g14);
            var g15 = Vector256.Create(x1q[5]).AsSByte();
            s1 = TDot.Accumulate(s1, w5, g15);
            r1 = TDot.Accumulate(r1, v5, g15);
            var g16 = Vector256.Create(x1q[6]).AsSByte();
            s1 = TDot.Accumulate(s1, w6, g16);
            r1 = TDot.Accumulate(r1, v6, g16);
            var g17 = Vector256.Create(x1q[7]).AsSByte();
            s1 = TDot.Accumulate(s1, w7, g17);
            r1 = TDot.Accumulate(r1, v7, g17);
            var e1 = Vector256.Create(d1[b]);
            a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), dw * e1, a1);
            b1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(r1), dv * e1, b1);

            var s2 = Start<TBlock>(m2, b);
            var r2 = s2;
            var x2q = (int*)(x2 + q);
            var g20 = Vector256.Create(x2q[0]).AsSByte();
            s2 = TDot.Accumulate(s2, w0, g20);
            r2 = TDot.Accumulate(r2, v0, g20);
            var g21 = Vector256.Create(x2q[1]).AsSByte();
            s2 = TDot.Accumulate(s2, w1, g21);
            r2 = TDot.Accumulate(r2, v1, g21);
            var g22 = Vector256.Create(x2q[2]).AsSByte();
            s2 = TDot.Accumulate(s2, w2, g22);
            r2 = TDot.Accumulate(r2, v2, g22);
            var g23 = Vector256.Create(x2q[3]).AsSByte();
            s2 = TDot.Accumulate(s2, w3, g23);
            r2 = TDot.Accumulate(r2, v3, g23);
            var g24 = Vector256.Create(x2q[4]).AsSByte();
            s2 = TDot.Accumulate(s2, w4, g24);
            r2 = TDot.Accumulate(r2, v4, g24);
            var g25 = Vector256.Create(x2q[5]).AsSByte();
            s2 = TDot.Accumulate(s2, w5, g25);
            r2 = TDot.Accumulate(r2, v5, g25);
            var g26 = Vector256.Create(x2q[6]).AsSByte();
            s2 = TDot.Accumulate(s2, w6, g26);
            r2 = TDot.Accumulate(r2, v6, g26);
            var g27 = Vector256.Create(x2q[7]).AsSByte();
            s2 = TDot.Accumulate(s2, w7, g27);
            r2 = TDot.Accumulate(r2, v7, g27);
            var e2 = Vector256.Create(d2[b]);
            a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), dw * e2, a2);
            b2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(r2), dv * e2, b2);

            var s3 = Start<TBlock>(m3, b);
            var r3 = s3;
            var x3q = (int*)(x3 + q);
            var g30 = Vector256.Create(x3q[0]).AsSByte();
            s3 = TDot.Accumulate(s3, w0, g30);
            r3 = TDot.Accumulate(r3, v0, g30);
            var g31 = Vector256.Create(x3q[1]).AsSByte();
            s3 = TDot.Accumulate(s3, w1, g31);
            r3 = TDot.Accumulate(r3, v1, g31);
            var g32 = Vector256.Create(x3q[2]).AsSByte();
            s3 = TDot.Accumulate(s3, w2, g32);
            r3 = TDot.Accumulate(r3, v2, g32);
            var g33 = Vector256.Create(x3q[3]).AsSByte();
            s3 = TDot.Accumulate(s3, w3, g33);
            r3 = TDot.Accumulate(r3, v3, g33);
            var g34 = Vector256.Create(x3q[4]).AsSByte();
            s3 = TDot.Accumulate(s3, w4, g34);
            r3 = TDot.Accumulate(r3, v4, g34);
            var g35 = Vector256.Create(x3q[5]).AsSByte();
            s3 = TDot.Accumulate(s3, w5, g35);
            r3 = TDot.Accumulate(r3, v5, g35);
            var g36 = Vector256.Create(x3q[6]).AsSByte();
            s3 = TDot.Accumulate(s3, w6, g36);
            r3 = TDot.Accumulate(r3, v6, g36);
            var g37 = Vector256.Create(x3q[7]).AsSByte();
            s3 = TDot.Accumulate(s3, w7, g37);
            r3 = TDot.Accumulate(r3, v7, g37);
            var e3 = Vector256.Create(d3[b]);
            a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), dw * e3, a3);
            b3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(r3), dv * e3, b3);
        }

        a0.Store(y);
        b0.Store(y + Rows);
        a1.Store(y + yStride);
        b1.Store(y + yStride + Rows);
        a2.Store(y + (2 * yStride));
        b2.Store(y + (2 * yStride) + Rows);
        a3.Store(y + (3 * yStride));
        b3.Store(y + (3 * yStride) + Rows);
    }

    /// <summary>
    /// Q8_0, two groups (<paramref name="groupBytes"/> apart) and eight tokens (<paramref name="stride"/> bytes apart) on
    /// 512-bit vectors, for CPUs with AVX-512BW but no vpdpbusd that .NET 10 can emit (Zen 4, Ice Lake: AVX-512 VNNI
    /// without AVX-VNNI). Each operand holds one chunk of both groups (sixteen rows × four quants). A signed quant read
    /// unsigned (q + 128, sign bit flipped) is split into nibbles, q + 128 = 16·hi + lo, once per block for all eight
    /// tokens; both nibbles meet the activations through vpmaddubsw, whose 16-bit products add up over the eight chunks
    /// without overflow (8 · 2 · 15 · 127 = 30480), and two vpmaddwd (by 1 and by 16) widen them. With the
    /// activations' −128 · Σa the integer sum is exactly Σ q·a, as in the four-token kernels, and the float steps are
    /// theirs, so the results are theirs bit for bit. AVX2's kernel takes five instructions per 32 quants and token
    /// (|q|, sign, two multiplies, add); this one about four per 64.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot8PairQ8_0Avx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
    {
        var nb = n / Q8Activations.BlockSize;
        var other = group + groupBytes;
        var d = (byte*)Q8Activations.Scales(activations, n); // token t's are stride · t bytes on
        var m = (byte*)Q8Activations.NegatedSums(activations, n);
        var nibble = Vector512.Create((byte)0x0F);
        var sign = Vector512.Create((byte)0x80);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (var b = 0; b < nb; b++, group += BlockQ8_0.Size * Rows, other += BlockQ8_0.Size * Rows)
        {
            var c0 = Both512(group + 16, other + 16) ^ sign;
            var c1 = Both512(group + 48, other + 48) ^ sign;
            var c2 = Both512(group + 80, other + 80) ^ sign;
            var c3 = Both512(group + 112, other + 112) ^ sign;
            var c4 = Both512(group + 144, other + 144) ^ sign;
            var c5 = Both512(group + 176, other + 176) ^ sign;
            var c6 = Both512(group + 208, other + 208) ^ sign;
            var c7 = Both512(group + 240, other + 240) ^ sign;
            var l0 = c0 & nibble;
            var l1 = c1 & nibble;
            var l2 = c2 & nibble;
            var l3 = c3 & nibble;
            var l4 = c4 & nibble;
            var l5 = c5 & nibble;
            var l6 = c6 & nibble;
            var l7 = c7 & nibble;
            var h0 = Avx512BW.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & nibble;
            var h1 = Avx512BW.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & nibble;
            var h2 = Avx512BW.ShiftRightLogical(c2.AsUInt16(), 4).AsByte() & nibble;
            var h3 = Avx512BW.ShiftRightLogical(c3.AsUInt16(), 4).AsByte() & nibble;
            var h4 = Avx512BW.ShiftRightLogical(c4.AsUInt16(), 4).AsByte() & nibble;
            var h5 = Avx512BW.ShiftRightLogical(c5.AsUInt16(), 4).AsByte() & nibble;
            var h6 = Avx512BW.ShiftRightLogical(c6.AsUInt16(), 4).AsByte() & nibble;
            var h7 = Avx512BW.ShiftRightLogical(c7.AsUInt16(), 4).AsByte() & nibble;
            var dw = PairScales(group, other);
            var x = activations + (b * Q8Activations.BlockSize);
            var db = d + (b * sizeof(float));
            var mb = m + (b * sizeof(int));
            a0 = StepQ8_0(a0, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)x, *(int*)mb, *(float*)db);
            a1 = StepQ8_0(a1, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + stride), *(int*)(mb + stride), *(float*)(db + stride));
            a2 = StepQ8_0(a2, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (2 * stride)), *(int*)(mb + (2 * stride)), *(float*)(db + (2 * stride)));
            a3 = StepQ8_0(a3, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (3 * stride)), *(int*)(mb + (3 * stride)), *(float*)(db + (3 * stride)));
            a4 = StepQ8_0(a4, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (4 * stride)), *(int*)(mb + (4 * stride)), *(float*)(db + (4 * stride)));
            a5 = StepQ8_0(a5, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (5 * stride)), *(int*)(mb + (5 * stride)), *(float*)(db + (5 * stride)));
            a6 = StepQ8_0(a6, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (6 * stride)), *(int*)(mb + (6 * stride)), *(float*)(db + (6 * stride)));
            a7 = StepQ8_0(a7, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7, dw, (int*)(x + (7 * stride)), *(int*)(mb + (7 * stride)), *(float*)(db + (7 * stride)));
        }

        StoreEight(y, yStride, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    /// <summary>Stores the sixteen outputs of each of eight tokens, <paramref name="yStride"/> floats apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreEight(float* y, int yStride, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7)
    {
        a0.Store(y);
        a1.Store(y + yStride);
        a2.Store(y + (2 * yStride));
        a3.Store(y + (3 * yStride));
        a4.Store(y + (4 * yStride));
        a5.Store(y + (5 * yStride));
        a6.Store(y + (6 * yStride));
        a7.Store(y + (7 * yStride));
    }

    /// <summary>acc + (Σ lo·a + 16 · Σ hi·a − 128 · Σa) · (scales · d_a) for one token's Q8_0 block of sixteen rows (see <see cref="Dot8PairQ8_0Avx512"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQ8_0(Vector512<float> acc, Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> l2, Vector512<byte> l3,
        Vector512<byte> l4, Vector512<byte> l5, Vector512<byte> l6, Vector512<byte> l7, Vector512<byte> h0, Vector512<byte> h1, Vector512<byte> h2,
        Vector512<byte> h3, Vector512<byte> h4, Vector512<byte> h5, Vector512<byte> h6, Vector512<byte> h7, Vector512<float> scales, int* a, int negatedSum, float da)
    {
        var s = Avx512BW.MultiplyAddAdjacent(PairSums16(l0, l1, l2, l3, l4, l5, l6, l7, a), Vector512.Create((short)1))
            + Avx512BW.MultiplyAddAdjacent(PairSums16(h0, h1, h2, h3, h4, h5, h6, h7, a), Vector512.Create((short)16))
            + Vector512.Create(negatedSum << 7);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s), scales * Vector512.Create(da), acc);
    }

    /// <summary>
    /// Σ level · a of one token's 32-value group for sixteen rows, widened to int32 by vpmaddwd against <paramref name="by"/>
    /// (ones, or the rows' scales as int16 pairs, which applies them in the same instruction). Four-bit levels sum all eight
    /// products in 16 bits (<see cref="PairSums16"/>); five-bit ones (<paramref name="fiveBit"/>: Q5_0, Q5_1, Q5_K) four
    /// (4 · 2 · 31 · 128 = 31744), so two halves widen apart. <paramref name="fiveBit"/> is a constant where inlined.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> GroupSums(Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7, Vector512<short> by, int* a, bool fiveBit) =>
        fiveBit
            ? Avx512BW.MultiplyAddAdjacent(PairSums4(w0, w1, w2, w3, a), by) + Avx512BW.MultiplyAddAdjacent(PairSums4(w4, w5, w6, w7, a + 4), by)
            : Avx512BW.MultiplyAddAdjacent(PairSums16(w0, w1, w2, w3, w4, w5, w6, w7, a), by);

    /// <summary>
    /// One 32-value group of sixteen rows against one token's quants <paramref name="a"/>: Σ over the eight
    /// operands of vpmaddubsw(level bytes, four activation bytes broadcast), each row's sum in two 16-bit halves
    /// of its lane. Exact for levels 0..15: 8 · 2 · 15 · 128 = 30720 &lt; 32767.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> PairSums16(Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7, int* a) =>
        PairSums4(w0, w1, w2, w3, a) + PairSums4(w4, w5, w6, w7, a + 4);

    /// <summary>As <see cref="PairSums16"/> for four operands (sixteen values): exact for levels up to 31 (4 · 2 · 31 · 128 = 31744).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> PairSums4(Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3, int* a) =>
        (Avx512BW.MultiplyAddAdjacent(w0, Vector512.Create(a[0]).AsSByte()) + Avx512BW.MultiplyAddAdjacent(w1, Vector512.Create(a[1]).AsSByte()))
        + (Avx512BW.MultiplyAddAdjacent(w2, Vector512.Create(a[2]).AsSByte()) + Avx512BW.MultiplyAddAdjacent(w3, Vector512.Create(a[3]).AsSByte()));

    /// <summary>Where a block's integer sums start: −Σa · 2^OffsetShift, or zero for operands without an offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Start<TBlock>(int* negatedSums, int b)
        where TBlock : IInterleavedBlock =>
        TBlock.OffsetShift < 0 ? Vector256<int>.Zero : Vector256.Create(negatedSums[b] << TBlock.OffsetShift);

    /// <summary>One token's block: the eight operands against its eight groups of four activation bytes, from <paramref name="start"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sum<TDot>(Vector256<int> start, Vector256<byte> w0, Vector256<byte> w1, Vector256<byte> w2, Vector256<byte> w3,
        Vector256<byte> w4, Vector256<byte> w5, Vector256<byte> w6, Vector256<byte> w7, int* a)
        where TDot : IByteDotAccumulate
    {
        var s = TDot.Accumulate(start, w0, Vector256.Create(a[0]).AsSByte());
        s = TDot.Accumulate(s, w1, Vector256.Create(a[1]).AsSByte());
        s = TDot.Accumulate(s, w2, Vector256.Create(a[2]).AsSByte());
        s = TDot.Accumulate(s, w3, Vector256.Create(a[3]).AsSByte());
        s = TDot.Accumulate(s, w4, Vector256.Create(a[4]).AsSByte());
        s = TDot.Accumulate(s, w5, Vector256.Create(a[5]).AsSByte());
        s = TDot.Accumulate(s, w6, Vector256.Create(a[6]).AsSByte());
        return TDot.Accumulate(s, w7, Vector256.Create(a[7]).AsSByte());
    }

    /// <summary>y[0..7] += s · scale · d_a, for the four-token kernels that accumulate a super-block at a time in their outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(float* y, Vector256<int> s, Vector256<float> scale, float da) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), scale * Vector256.Create(da), Avx.LoadVector256(y)).Store(y);

    /// <summary>
    /// The eight rows' half scales at the start of a block, as floats, with <see cref="Fp16.ToFloat(Vector256{uint})"/>'s
    /// results for finite halves in three instructions after the load where it takes six: read sign-extended
    /// (vpmovsxwd), a half shifted left by 13 has its sign in bits 28–31 and its exponent and mantissa in bits 13–27,
    /// where a float's are; clearing bits 28–30 leaves a float whose product with 2^112 is the half's value, sign
    /// included (a product with a power of two is exact). One core, from L2, one token: Q4_0 33.0 → 34.5 GB/s,
    /// Q8_0 50 → 53.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* block)
    {
        var s = Avx2.ConvertToVector256Int32(Sse2.LoadVector128((short*)block));
        return ((s << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle((127 + 112) << 23));
    }
}

/// <summary>Q4_0 interleaved (d[8], then the nibble chunks): operand k &lt; 4 is the low nibbles of chunk k (values 4k..), k ≥ 4 the high nibbles of chunk k − 4 (values 16 + 4(k − 4)..).</summary>
internal readonly unsafe struct Q4_0x8 : IInterleavedBlock, INibbleLayout
{
    public static int Bytes => 8 * BlockQ4_0.Size;

    public static int Quants => 2 * Interleaved8.Rows;

    public static int High => -1;

    public static int OffsetShift => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Interleaved8.NibbleOperand(block, Quants, High, k);
}

/// <summary>Q8_0 interleaved, read unsigned (sign bit flipped: q + 128) for vpdpbusd.</summary>
internal readonly unsafe struct Q8_0x8Unsigned : IInterleavedBlock
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static int OffsetShift => 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Avx.LoadVector256(block + 16 + (32 * k)) ^ Vector256.Create((byte)0x80);
}

/// <summary>Q8_0 interleaved, read signed (for <see cref="SignAccumulate"/>).</summary>
internal readonly unsafe struct Q8_0x8Signed : IInterleavedBlock
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Avx.LoadVector256(block + 16 + (32 * k));
}

