using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>
/// Where a nibble layout (Q4_0's in Interleaved8.cs; Q5_0's, Q4_1's and Q5_1's in Interleaved8.Nibbles.cs) keeps its
/// parts, for the kernels generic over them; constants where inlined.
/// </summary>
internal interface INibbleLayout
{
    /// <summary>Bytes of the eight rows' block.</summary>
    static abstract int Bytes { get; }

    /// <summary>Offset of the nibble chunks.</summary>
    static abstract int Quants { get; }

    /// <summary>Offset of the fifth-bit bytes, or −1 (four-bit levels 0..15).</summary>
    static abstract int High { get; }

    /// <summary>
    /// As <see cref="IInterleavedBlock.OffsetShift"/>: the levels are the weights plus 2^OffsetShift (Q4_0: 3, Q5_0: 4), and
    /// the sums start from −Σa · 2^OffsetShift against <see cref="Q8Activations"/>; −1 where the rows have minimums instead
    /// (Q4_1, Q5_1: d[8], then m[8], against Q8_1 activations).
    /// </summary>
    static abstract int OffsetShift { get; }
}

/// <summary>
/// Q5_0 interleaved (<see cref="Interleaved8"/>'s nibble layout: d[8], the nibble chunks, the fifth-bit bytes), for the
/// generic x86 kernels too. Levels 0..31; vpmaddubsw stays exact (2 · 31 · 128 &lt; 32767).
/// </summary>
internal readonly unsafe struct Q5_0x8 : IInterleavedBlock, INibbleLayout
{
    public static int Bytes => Interleaved8.Rows * BlockQ5_0.Size;

    public static int Quants => Interleaved8.Q5_0Quants;

    public static int High => Interleaved8.Q5_0High;

    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k) => Interleaved8.NibbleOperand(block, Quants, High, k);
}

/// <summary>Q4_1 interleaved: d[8], m[8], the nibble chunks.</summary>
internal readonly struct Q4_1x8 : INibbleLayout
{
    public static int Bytes => Interleaved8.Rows * BlockQ4_1.Size;

    public static int Quants => Interleaved8.MinQuants;

    public static int High => -1;

    public static int OffsetShift => -1;
}

/// <summary>Q5_1 interleaved: d[8], m[8], the nibble chunks, the fifth-bit bytes.</summary>
internal readonly struct Q5_1x8 : INibbleLayout
{
    public static int Bytes => Interleaved8.Rows * BlockQ5_1.Size;

    public static int Quants => Interleaved8.MinQuants;

    public static int High => Interleaved8.MinHigh;

    public static int OffsetShift => -1;
}

/// <summary>
/// The x86 kernels over the nibble layouts: operand extraction, their 512-bit prefill kernel (Q4_0's too), and the
/// kernels of Q4_1 and Q5_1 against Q8_1 activations (ggml's partner format for them: a half scale d_a and a half
/// s_a = d_a · Σa per block, then the 32 quants). Per block and token the eight rows' integer sums Σ level · a are exact;
/// acc += sum · d · d_a, then acc += m · s_a, as the row kernels add d·d_a·Σ q·a + m·s_a (ggml_vec_dot_q4_1_q8_1).
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>
    /// Operand <paramref name="k"/> of a nibble-layout block: chunk k's low nibbles (k &lt; 4) or chunk k − 4's high ones,
    /// with, where <paramref name="high"/> is not negative, bit k of the fifth-bit bytes as bit 4 (a 16-bit shift: the
    /// mask keeps only the bit that came from the same byte).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> NibbleOperand(byte* block, int quants, int high, int k)
    {
        var c = Avx.LoadVector256(block + quants + (32 * (k & 3)));
        var nibble = Vector256.Create((byte)0x0F);
        var levels = k < 4 ? c & nibble : Avx2.ShiftRightLogical(c.AsUInt16(), 4).AsByte() & nibble;
        return high < 0 ? levels : levels | (FifthBits(Avx.LoadVector256(block + high).AsUInt16(), k).AsByte() & Vector256.Create((byte)0x10));
    }

    /// <summary>The fifth-bit bytes with bit <paramref name="k"/> of each moved to bit 4 (k is a constant where inlined).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> FifthBits(Vector256<ushort> h, int k) => k switch
    {
        0 => Avx2.ShiftLeftLogical(h, 4),
        1 => Avx2.ShiftLeftLogical(h, 3),
        2 => Avx2.ShiftLeftLogical(h, 2),
        3 => Avx2.ShiftLeftLogical(h, 1),
        4 => h,
        5 => Avx2.ShiftRightLogical(h, 1),
        6 => Avx2.ShiftRightLogical(h, 2),
        _ => Avx2.ShiftRightLogical(h, 3),
    };

    /// <summary>y[0..7] = the eight Q4_1 or Q5_1 rows · one Q8_1 token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotMin<TBlock, TDot>(byte* group, byte* activations, int n, float* y)
        where TBlock : INibbleLayout
        where TDot : IByteDotAccumulate
    {
        var high = TBlock.High;
        var a = (BlockQ8_1*)activations;
        Vector256<float> acc = default;
        for (var b = 0; b < n / BlockQ8_1.Elements; b++, group += TBlock.Bytes, a++)
        {
            var s = Sum<TDot>(Vector256<int>.Zero, NibbleOperand(group, TBlock.Quants, high, 0), NibbleOperand(group, TBlock.Quants, high, 1),
                NibbleOperand(group, TBlock.Quants, high, 2), NibbleOperand(group, TBlock.Quants, high, 3), NibbleOperand(group, TBlock.Quants, high, 4),
                NibbleOperand(group, TBlock.Quants, high, 5), NibbleOperand(group, TBlock.Quants, high, 6), NibbleOperand(group, TBlock.Quants, high, 7), (int*)a->Qs);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Scales(group) * Vector256.Create(Fp16.ToFloat(a->D)), acc);
            acc = Fma.MultiplyAdd(Scales(group + MinOffset), Vector256.Create(Fp16.ToFloat(a->S)), acc);
        }

        acc.Store(y);
    }

    /// <summary>y[t·yStride + 0..7] = the eight Q4_1 or Q5_1 rows · token t, for four Q8_1 tokens <paramref name="stride"/> bytes apart.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Min<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : INibbleLayout
        where TDot : IByteDotAccumulate
    {
        var high = TBlock.High;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < n / BlockQ8_1.Elements; b++, group += TBlock.Bytes, activations += BlockQ8_1.Size)
        {
            var w0 = NibbleOperand(group, TBlock.Quants, high, 0);
            var w1 = NibbleOperand(group, TBlock.Quants, high, 1);
            var w2 = NibbleOperand(group, TBlock.Quants, high, 2);
            var w3 = NibbleOperand(group, TBlock.Quants, high, 3);
            var w4 = NibbleOperand(group, TBlock.Quants, high, 4);
            var w5 = NibbleOperand(group, TBlock.Quants, high, 5);
            var w6 = NibbleOperand(group, TBlock.Quants, high, 6);
            var w7 = NibbleOperand(group, TBlock.Quants, high, 7);
            var dw = Scales(group);
            var mw = Scales(group + MinOffset);
            var a0 = (BlockQ8_1*)activations;
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sum<TDot>(Vector256<int>.Zero, w0, w1, w2, w3, w4, w5, w6, w7, (int*)a0->Qs)), dw * Vector256.Create(Fp16.ToFloat(a0->D)), acc0);
            acc0 = Fma.MultiplyAdd(mw, Vector256.Create(Fp16.ToFloat(a0->S)), acc0);
            var a1 = (BlockQ8_1*)(activations + stride);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sum<TDot>(Vector256<int>.Zero, w0, w1, w2, w3, w4, w5, w6, w7, (int*)a1->Qs)), dw * Vector256.Create(Fp16.ToFloat(a1->D)), acc1);
            acc1 = Fma.MultiplyAdd(mw, Vector256.Create(Fp16.ToFloat(a1->S)), acc1);
            var a2 = (BlockQ8_1*)(activations + (2 * stride));
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sum<TDot>(Vector256<int>.Zero, w0, w1, w2, w3, w4, w5, w6, w7, (int*)a2->Qs)), dw * Vector256.Create(Fp16.ToFloat(a2->D)), acc2);
            acc2 = Fma.MultiplyAdd(mw, Vector256.Create(Fp16.ToFloat(a2->S)), acc2);
            var a3 = (BlockQ8_1*)(activations + (3 * stride));
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sum<TDot>(Vector256<int>.Zero, w0, w1, w2, w3, w4, w5, w6, w7, (int*)a3->Qs)), dw * Vector256.Create(Fp16.ToFloat(a3->D)), acc3);
            acc3 = Fma.MultiplyAdd(mw, Vector256.Create(Fp16.ToFloat(a3->S)), acc3);
        }

        acc0.Store(y);
        acc1.Store(y + yStride);
        acc2.Store(y + (2 * yStride));
        acc3.Store(y + (3 * yStride));
    }

    /// <summary>
    /// Q4_0, Q5_0, Q4_1 or Q5_1, two groups (<paramref name="groupBytes"/> apart) and eight tokens (<paramref name="stride"/>
    /// bytes apart) on 512-bit vectors. Each operand holds one chunk of both groups (sixteen rows × four values), so a
    /// broadcast group of four activation bytes meets sixteen rows per instruction. The levels meet the activations
    /// through vpmaddubsw, and the 16-bit products add up while they cannot overflow: all eight for four-bit levels
    /// (8 · 2 · 15 · 128 = 30720), four at a time for five-bit ones (4 · 2 · 31 · 128 = 31744 &lt; 32767), so one or two
    /// vpmaddwd widen a block: nine or ten multiplying instructions per token and block for sixteen rows, where AVX-VNNI's
    /// 256-bit vpdpbusd takes sixteen (.NET 10 has no 512-bit vpdpbusd). The integer sums are exact and the float steps
    /// are the four-token kernels' (<see cref="Dot4Pair{TBlock, TDot}"/> against <see cref="Q8Activations"/>,
    /// <see cref="Dot4Min{TBlock, TDot}"/> against Q8_1), so the results are theirs bit for bit. Where 512-bit operations
    /// run at full width (Zen 5 server) a 5632 × 2048 Q4_0 product with 128 tokens ran at 294 GMAC/s on one core against
    /// AVX-VNNI's 190; where they run as two 256-bit halves (Zen 4) they should lose, and
    /// <see cref="Kernels.KernelRegistry.WideIntegerPays"/> decides by measuring. The operands are computed here, not in
    /// a helper returning them: as a tuple they went through the stack on every block.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot8PairNibblesAvx512<TLayout>(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
        where TLayout : INibbleLayout
    {
        var nb = n / 32;
        var other = group + groupBytes;
        var quants = TLayout.Quants;
        var high = TLayout.High;
        var minimums = TLayout.OffsetShift < 0;
        var d = minimums ? null : (byte*)Q8Activations.Scales(activations, n); // token t's are stride · t bytes on
        var m = minimums ? null : (byte*)Q8Activations.NegatedSums(activations, n);
        var low = Vector512.Create((byte)0x0F);
        var fifth = Vector512.Create((byte)0x10);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (var b = 0; b < nb; b++, group += TLayout.Bytes, other += TLayout.Bytes)
        {
            var c0 = Both512(group + quants, other + quants);
            var c1 = Both512(group + quants + 32, other + quants + 32);
            var c2 = Both512(group + quants + 64, other + quants + 64);
            var c3 = Both512(group + quants + 96, other + quants + 96);
            var w0 = c0 & low;
            var w1 = c1 & low;
            var w2 = c2 & low;
            var w3 = c3 & low;
            var w4 = Avx512BW.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & low;
            var w5 = Avx512BW.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & low;
            var w6 = Avx512BW.ShiftRightLogical(c2.AsUInt16(), 4).AsByte() & low;
            var w7 = Avx512BW.ShiftRightLogical(c3.AsUInt16(), 4).AsByte() & low;
            if (high >= 0)
            {
                // Bit k of the fifth-bit bytes to bit 4 of operand k (16-bit shifts; the mask keeps the byte's own bit).
                var h = Both512(group + high, other + high).AsUInt16();
                w0 |= Avx512BW.ShiftLeftLogical(h, 4).AsByte() & fifth;
                w1 |= Avx512BW.ShiftLeftLogical(h, 3).AsByte() & fifth;
                w2 |= Avx512BW.ShiftLeftLogical(h, 2).AsByte() & fifth;
                w3 |= Avx512BW.ShiftLeftLogical(h, 1).AsByte() & fifth;
                w4 |= h.AsByte() & fifth;
                w5 |= Avx512BW.ShiftRightLogical(h, 1).AsByte() & fifth;
                w6 |= Avx512BW.ShiftRightLogical(h, 2).AsByte() & fifth;
                w7 |= Avx512BW.ShiftRightLogical(h, 3).AsByte() & fifth;
            }

            var dw = PairScales(group, other);
            if (minimums)
            {
                var mw = PairScales(group + MinOffset, other + MinOffset);
                var x = activations + (b * BlockQ8_1.Size);
                a0 = StepMin<TLayout>(a0, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)x);
                a1 = StepMin<TLayout>(a1, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + stride));
                a2 = StepMin<TLayout>(a2, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (2 * stride)));
                a3 = StepMin<TLayout>(a3, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (3 * stride)));
                a4 = StepMin<TLayout>(a4, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (4 * stride)));
                a5 = StepMin<TLayout>(a5, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (5 * stride)));
                a6 = StepMin<TLayout>(a6, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (6 * stride)));
                a7 = StepMin<TLayout>(a7, w0, w1, w2, w3, w4, w5, w6, w7, dw, mw, (BlockQ8_1*)(x + (7 * stride)));
            }
            else
            {
                var x = activations + (b * Q8Activations.BlockSize);
                var db = d + (b * sizeof(float));
                var mb = m + (b * sizeof(int));
                a0 = StepOffset<TLayout>(a0, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)x, *(int*)mb, *(float*)db);
                a1 = StepOffset<TLayout>(a1, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + stride), *(int*)(mb + stride), *(float*)(db + stride));
                a2 = StepOffset<TLayout>(a2, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (2 * stride)), *(int*)(mb + (2 * stride)), *(float*)(db + (2 * stride)));
                a3 = StepOffset<TLayout>(a3, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (3 * stride)), *(int*)(mb + (3 * stride)), *(float*)(db + (3 * stride)));
                a4 = StepOffset<TLayout>(a4, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (4 * stride)), *(int*)(mb + (4 * stride)), *(float*)(db + (4 * stride)));
                a5 = StepOffset<TLayout>(a5, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (5 * stride)), *(int*)(mb + (5 * stride)), *(float*)(db + (5 * stride)));
                a6 = StepOffset<TLayout>(a6, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (6 * stride)), *(int*)(mb + (6 * stride)), *(float*)(db + (6 * stride)));
                a7 = StepOffset<TLayout>(a7, w0, w1, w2, w3, w4, w5, w6, w7, dw, (int*)(x + (7 * stride)), *(int*)(mb + (7 * stride)), *(float*)(db + (7 * stride)));
            }
        }

        StoreEight(y, yStride, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    /// <summary>
    /// acc + (Σ level · a − 2^OffsetShift · Σa) · (scales · d_a) for one token's Q4_0 or Q5_0 block of sixteen rows: <paramref name="a"/>
    /// its 32 quants, <paramref name="negatedSum"/> −Σa, <paramref name="da"/> its scale. (The operands are parameters, not a
    /// struct's fields: the JIT kept such a struct on the stack and reloaded it on every call.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepOffset<TLayout>(Vector512<float> acc, Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7, Vector512<float> scales, int* a, int negatedSum, float da)
        where TLayout : INibbleLayout
    {
        var s = GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, Vector512.Create((short)1), a, TLayout.High >= 0) + Vector512.Create(negatedSum << TLayout.OffsetShift);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s), scales * Vector512.Create(da), acc);
    }

    /// <summary>acc + Σ level · a · (d · d_a), then + m · s_a, for one Q8_1 token's Q4_1 or Q5_1 block of sixteen rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepMin<TLayout>(Vector512<float> acc, Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7, Vector512<float> dw, Vector512<float> mw, BlockQ8_1* a)
        where TLayout : INibbleLayout
    {
        var s = GroupSums(w0, w1, w2, w3, w4, w5, w6, w7, Vector512.Create((short)1), (int*)a->Qs, TLayout.High >= 0);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s), dw * Vector512.Create(Fp16.ToFloat(a->D)), acc);
        return Avx512F.FusedMultiplyAdd(mw, Vector512.Create(Fp16.ToFloat(a->S)), acc);
    }
}
