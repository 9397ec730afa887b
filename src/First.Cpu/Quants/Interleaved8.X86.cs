using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>A block of eight interleaved rows (<see cref="Interleaved8"/>) read as eight 32-byte operands.</summary>
internal unsafe interface IInterleavedBlock
{
    /// <summary>Bytes of the eight rows' block.</summary>
    static abstract int Bytes { get; }

    /// <summary>What the operand bytes exceed the quants by (taken back through the activations' block sums).</summary>
    static abstract float Offset { get; }

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
/// sum the block for all eight rows in eight int32 lanes; one conversion and one multiply-add by the
/// rows' scales times the token's scale follow. Results are the row kernels' within float rounding.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = rows · x for one token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a long loop entered a few hundred times per token: tiering would leave it in instrumented tier 0 for seconds
    internal static void Dot<TBlock, TDot>(byte* group, byte* activations, int n, float* y)
        where TBlock : IInterleavedBlock
        where TDot : IByteDotAccumulate
    {
        var nb = n / Q8Activations.BlockSize;
        var aq = (int*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var asum = Q8Activations.Sums(activations, n);
        Vector256<float> acc = default, corr = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes, aq += 8)
        {
            var dw = Scales(group);
            var s = Sum<TDot>(TBlock.Operand(group, 0), TBlock.Operand(group, 1), TBlock.Operand(group, 2), TBlock.Operand(group, 3),
                TBlock.Operand(group, 4), TBlock.Operand(group, 5), TBlock.Operand(group, 6), TBlock.Operand(group, 7), aq);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), dw * Vector256.Create(ad[b]), acc);
            if (TBlock.Offset != 0)
            {
                corr = Fma.MultiplyAdd(dw, Vector256.Create(asum[b]), corr);
            }
        }

        (TBlock.Offset != 0 ? Fma.MultiplyAddNegated(Vector256.Create(TBlock.Offset), corr, acc) : acc).Store(y);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = rows · x_t for four tokens (<paramref name="stride"/> bytes apart): the block's
    /// eight operands are loaded and unpacked once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlock
        where TDot : IByteDotAccumulate
    {
        var nb = n / Q8Activations.BlockSize;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        float* m0 = Q8Activations.Sums(x0, n), m1 = Q8Activations.Sums(x1, n), m2 = Q8Activations.Sums(x2, n), m3 = Q8Activations.Sums(x3, n);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> corr0 = default, corr1 = default, corr2 = default, corr3 = default;
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
            var s0 = Sum<TDot>(w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x0 + q));
            var s1 = Sum<TDot>(w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x1 + q));
            var s2 = Sum<TDot>(w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x2 + q));
            var s3 = Sum<TDot>(w0, w1, w2, w3, w4, w5, w6, w7, (int*)(x3 + q));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), dw * Vector256.Create(d0[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), dw * Vector256.Create(d1[b]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), dw * Vector256.Create(d2[b]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), dw * Vector256.Create(d3[b]), acc3);
            if (TBlock.Offset != 0)
            {
                corr0 = Fma.MultiplyAdd(dw, Vector256.Create(m0[b]), corr0);
                corr1 = Fma.MultiplyAdd(dw, Vector256.Create(m1[b]), corr1);
                corr2 = Fma.MultiplyAdd(dw, Vector256.Create(m2[b]), corr2);
                corr3 = Fma.MultiplyAdd(dw, Vector256.Create(m3[b]), corr3);
            }
        }

        var offset = Vector256.Create(TBlock.Offset);
        Fma.MultiplyAddNegated(offset, corr0, acc0).Store(y);
        Fma.MultiplyAddNegated(offset, corr1, acc1).Store(y + yStride);
        Fma.MultiplyAddNegated(offset, corr2, acc2).Store(y + (2 * yStride));
        Fma.MultiplyAddNegated(offset, corr3, acc3).Store(y + (3 * yStride));
    }

    /// <summary>One token's block: the eight operands against its eight groups of four activation bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sum<TDot>(Vector256<byte> w0, Vector256<byte> w1, Vector256<byte> w2, Vector256<byte> w3,
        Vector256<byte> w4, Vector256<byte> w5, Vector256<byte> w6, Vector256<byte> w7, int* a)
        where TDot : IByteDotAccumulate
    {
        var s = TDot.Accumulate(Vector256<int>.Zero, w0, Vector256.Create(a[0]).AsSByte());
        s = TDot.Accumulate(s, w1, Vector256.Create(a[1]).AsSByte());
        s = TDot.Accumulate(s, w2, Vector256.Create(a[2]).AsSByte());
        s = TDot.Accumulate(s, w3, Vector256.Create(a[3]).AsSByte());
        s = TDot.Accumulate(s, w4, Vector256.Create(a[4]).AsSByte());
        s = TDot.Accumulate(s, w5, Vector256.Create(a[5]).AsSByte());
        s = TDot.Accumulate(s, w6, Vector256.Create(a[6]).AsSByte());
        return TDot.Accumulate(s, w7, Vector256.Create(a[7]).AsSByte());
    }

    /// <summary>The eight rows' half scales at the start of a block, as floats (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* block) =>
        Fp16.ToFloat(Avx2.ConvertToVector256Int32(Sse2.LoadVector128((ushort*)block)).AsUInt32());
}

/// <summary>Q4_0 interleaved: operand k &lt; 4 is the low nibbles of chunk k (values 4k..), k ≥ 4 the high nibbles of chunk k − 4 (values 16 + 4(k − 4)..).</summary>
internal readonly unsafe struct Q4_0x8 : IInterleavedBlock
{
    public static int Bytes => 8 * BlockQ4_0.Size;

    public static float Offset => 8f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => k < 4
        ? Avx.LoadVector256(block + 16 + (32 * k)) & Vector256.Create((byte)0x0F)
        : Avx2.ShiftRightLogical(Avx.LoadVector256(block + 16 + (32 * (k - 4))).AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
}

/// <summary>Q8_0 interleaved, read unsigned (sign bit flipped: q + 128) for vpdpbusd.</summary>
internal readonly unsafe struct Q8_0x8Unsigned : IInterleavedBlock
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static float Offset => 128f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Avx.LoadVector256(block + 16 + (32 * k)) ^ Vector256.Create((byte)0x80);
}

/// <summary>Q8_0 interleaved, read signed (for <see cref="SignAccumulate"/>).</summary>
internal readonly unsafe struct Q8_0x8Signed : IInterleavedBlock
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static float Offset => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Avx.LoadVector256(block + 16 + (32 * k));
}
