using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_0 interleaved (<see cref="Interleaved8"/>'s Q5_0 layout) for the generic x86 kernels: operand k is chunk k's
/// low nibbles (k &lt; 4) or chunk k − 4's high ones, with bit k of the fifth-bit bytes shifted into bit 4 (a 16-bit
/// shift: the mask keeps only the bit that came from the same byte). Levels 0..31; vpmaddubsw stays exact
/// (2 · 31 · 128 &lt; 32767).
/// </summary>
internal readonly unsafe struct Q5_0x8 : IInterleavedBlock
{
    public static int Bytes => Interleaved8.Q5_0GroupBlock;

    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Operand(byte* block, int k)
    {
        var h = Avx.LoadVector256(block + Interleaved8.Q5_0High).AsUInt16();
        var c = Avx.LoadVector256(block + Interleaved8.Q5_0Quants + (32 * (k & 3)));
        var nibble = Vector256.Create((byte)0x0F);
        var levels = k < 4 ? c & nibble : Avx2.ShiftRightLogical(c.AsUInt16(), 4).AsByte() & nibble;
        return levels | (FifthBits(h, k).AsByte() & Vector256.Create((byte)0x10));
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
}

/// <summary>The 512-bit Q5_0 prefill kernel.</summary>
public static unsafe partial class Interleaved8
{
    /// <summary>
    /// Q5_0, two groups (<paramref name="groupBytes"/> apart) and eight tokens (<paramref name="stride"/> bytes apart) on
    /// 512-bit vectors, as <see cref="Dot8PairQ4_0Avx512"/>: each operand holds one chunk of both groups, the levels
    /// meet a broadcast group of four activation bytes through vpmaddubsw, and the 16-bit products add up while they
    /// cannot overflow, here four at a time (4 · 2 · 31 · 128 = 31744 &lt; 32767), so two vpmaddwd widen a block. Ten
    /// multiplying instructions per token and block for sixteen rows, where AVX-VNNI takes sixteen vpdpbusd. The
    /// integer sums are exact, and the float steps are <see cref="Dot4Pair{TBlock, TDot}"/>'s, so the results are
    /// its bit for bit.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot8PairQ5_0Avx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride)
    {
        var nb = n / Q8Activations.BlockSize;
        var other = group + groupBytes;
        var d = (byte*)Q8Activations.Scales(activations, n); // token t's are stride · t bytes on
        var m = (byte*)Q8Activations.NegatedSums(activations, n);
        var low = Vector512.Create((byte)0x0F);
        var fifth = Vector512.Create((byte)0x10);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (var b = 0; b < nb; b++, group += Q5_0GroupBlock, other += Q5_0GroupBlock, d += sizeof(float), m += sizeof(int))
        {
            // Operand k: values 4k..4k+3 of the first group's eight rows, then the second's (Q5_0x8's operand k of each).
            var h = Both512(group + Q5_0High, other + Q5_0High).AsUInt16();
            var c0 = Both512(group + Q5_0Quants, other + Q5_0Quants);
            var c1 = Both512(group + Q5_0Quants + 32, other + Q5_0Quants + 32);
            var c2 = Both512(group + Q5_0Quants + 64, other + Q5_0Quants + 64);
            var c3 = Both512(group + Q5_0Quants + 96, other + Q5_0Quants + 96);
            var w0 = (c0 & low) | (Avx512BW.ShiftLeftLogical(h, 4).AsByte() & fifth);
            var w1 = (c1 & low) | (Avx512BW.ShiftLeftLogical(h, 3).AsByte() & fifth);
            var w2 = (c2 & low) | (Avx512BW.ShiftLeftLogical(h, 2).AsByte() & fifth);
            var w3 = (c3 & low) | (Avx512BW.ShiftLeftLogical(h, 1).AsByte() & fifth);
            var w4 = (Avx512BW.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & low) | (h.AsByte() & fifth);
            var w5 = (Avx512BW.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftRightLogical(h, 1).AsByte() & fifth);
            var w6 = (Avx512BW.ShiftRightLogical(c2.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftRightLogical(h, 2).AsByte() & fifth);
            var w7 = (Avx512BW.ShiftRightLogical(c3.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftRightLogical(h, 3).AsByte() & fifth);
            var scales = PairScales(group, other);
            var x = activations + (b * Q8Activations.BlockSize);
            a0 = StepQ5_0(a0, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)x, *(int*)m, *(float*)d);
            a1 = StepQ5_0(a1, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + stride), *(int*)(m + stride), *(float*)(d + stride));
            a2 = StepQ5_0(a2, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (2 * stride)), *(int*)(m + (2 * stride)), *(float*)(d + (2 * stride)));
            a3 = StepQ5_0(a3, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (3 * stride)), *(int*)(m + (3 * stride)), *(float*)(d + (3 * stride)));
            a4 = StepQ5_0(a4, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (4 * stride)), *(int*)(m + (4 * stride)), *(float*)(d + (4 * stride)));
            a5 = StepQ5_0(a5, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (5 * stride)), *(int*)(m + (5 * stride)), *(float*)(d + (5 * stride)));
            a6 = StepQ5_0(a6, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (6 * stride)), *(int*)(m + (6 * stride)), *(float*)(d + (6 * stride)));
            a7 = StepQ5_0(a7, w0, w1, w2, w3, w4, w5, w6, w7, scales, (int*)(x + (7 * stride)), *(int*)(m + (7 * stride)), *(float*)(d + (7 * stride)));
        }

        a0.Store(y);
        a1.Store(y + yStride);
        a2.Store(y + (2 * yStride));
        a3.Store(y + (3 * yStride));
        a4.Store(y + (4 * yStride));
        a5.Store(y + (5 * yStride));
        a6.Store(y + (6 * yStride));
        a7.Store(y + (7 * yStride));
    }

    /// <summary>acc + (Σ level · a − 16Σa) · (scales · d_a) for one token's Q5_0 block of sixteen rows (see <see cref="Dot8PairQ5_0Avx512"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQ5_0(Vector512<float> acc, Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7, Vector512<float> scales, int* a, int negatedSum, float da)
    {
        var ones = Vector512.Create((short)1);
        var s = (Avx512BW.MultiplyAddAdjacent(PairSums4(w0, w1, w2, w3, a), ones) + Avx512BW.MultiplyAddAdjacent(PairSums4(w4, w5, w6, w7, a + 4), ones))
            + Vector512.Create(negatedSum << 4);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s), scales * Vector512.Create(da), acc);
    }
}
