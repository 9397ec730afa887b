using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q5_0 interleaved on arm64 (<see cref="Interleaved8"/>'s nibble layout): levels 0..31, valid as signed bytes; the sums start from −16·Σa.</summary>
internal readonly unsafe struct Q5_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => Interleaved8.Rows * BlockQ5_0.Size;

    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => Interleaved8.NibbleOperandArm(block, Interleaved8.Q5_0Quants, Interleaved8.Q5_0High, k, half);
}

/// <summary>Q4_1 interleaved on arm64: levels 0..15 (the minimums are added apart, against Q8_1's s).</summary>
internal readonly unsafe struct Q4_1x8Arm : IInterleavedBlockArm
{
    public static int Bytes => Interleaved8.Rows * BlockQ4_1.Size;

    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => Interleaved8.NibbleOperandArm(block, Interleaved8.MinQuants, -1, k, half);
}

/// <summary>Q5_1 interleaved on arm64: levels 0..31.</summary>
internal readonly unsafe struct Q5_1x8Arm : IInterleavedBlockArm
{
    public static int Bytes => Interleaved8.Rows * BlockQ5_1.Size;

    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => Interleaved8.NibbleOperandArm(block, Interleaved8.MinQuants, Interleaved8.MinHigh, k, half);
}

/// <summary>The arm64 kernels (sdot or plain NEON) over the nibble layouts: operand extraction, and Q4_1 and Q5_1 against Q8_1 activations.</summary>
public static unsafe partial class Interleaved8
{
    /// <summary>
    /// Operand <paramref name="k"/> of rows 0..3 (<paramref name="half"/> 0) or 4..7 of a nibble-layout block: chunk k's
    /// low nibbles (k &lt; 4) or chunk k − 4's high ones, with, where <paramref name="high"/> is not negative, bit k of the
    /// fifth-bit bytes as bit 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<sbyte> NibbleOperandArm(byte* block, int quants, int high, int k, int half)
    {
        var c = AdvSimd.LoadVector128(block + quants + (32 * (k & 3)) + (16 * half));
        var levels = k < 4 ? c & Vector128.Create((byte)0x0F) : AdvSimd.ShiftRightLogical(c, 4);
        return (high < 0 ? levels : levels | (FifthBitsArm(AdvSimd.LoadVector128(block + high + (16 * half)), k) & Vector128.Create((byte)0x10))).AsSByte();
    }

    /// <summary>The fifth-bit bytes with bit <paramref name="k"/> of each moved to bit 4 (k is a constant where inlined; ushr takes 1..8 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> FifthBitsArm(Vector128<byte> h, int k) => k switch
    {
        0 => AdvSimd.ShiftLeftLogical(h, 4),
        1 => AdvSimd.ShiftLeftLogical(h, 3),
        2 => AdvSimd.ShiftLeftLogical(h, 2),
        3 => AdvSimd.ShiftLeftLogical(h, 1),
        4 => h,
        5 => AdvSimd.ShiftRightLogical(h, 1),
        6 => AdvSimd.ShiftRightLogical(h, 2),
        _ => AdvSimd.ShiftRightLogical(h, 3),
    };

    /// <summary>y[0..7] = the eight Q4_1 or Q5_1 rows · one Q8_1 token: per block the exact integer sums, then acc += sum · d · d_a and acc += m · s_a.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotMinArm<TBlock, TDot>(byte* group, byte* activations, int n, float* y)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        var a = (BlockQ8_1*)activations;
        Vector128<float> acc0 = default, acc1 = default;
        for (var b = 0; b < n / BlockQ8_1.Elements; b++, group += TBlock.Bytes, a++)
        {
            var (s0, s1) = SumArm<TBlock, TDot>(group, Vector128<int>.Zero, AdvSimd.LoadVector128(a->Qs), AdvSimd.LoadVector128(a->Qs + 16));
            var (d0, d1) = ScalesArm(group);
            var (m0, m1) = ScalesArm(group + MinOffset);
            var da = Vector128.Create(Fp16.ToFloat(a->D));
            var sa = Vector128.Create(Fp16.ToFloat(a->S));
            acc0 = AdvSimd.FusedMultiplyAdd(AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(s0), d0 * da), m0, sa);
            acc1 = AdvSimd.FusedMultiplyAdd(AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(s1), d1 * da), m1, sa);
        }

        acc0.Store(y);
        acc1.Store(y + 4);
    }

    /// <summary>y[t·yStride + 0..7] = the eight Q4_1 or Q5_1 rows · token t, for four Q8_1 tokens <paramref name="stride"/> bytes apart.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4MinArm<TBlock, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlockArm
        where TDot : IQuadDotArm
    {
        ClearOutputs(y, yStride);
        for (var b = 0; b < n / BlockQ8_1.Elements; b++, group += TBlock.Bytes, activations += BlockQ8_1.Size)
        {
            var (dw, dv) = ScalesArm(group);
            var (mw, mv) = ScalesArm(group + MinOffset);
            for (var half = 0; half < 2; half++)
            {
                // One half of the rows at a time, accumulated in the outputs: sixteen operands would leave too few of
                // NEON's 32 registers for the sums.
                var (w0, w1, w2, w3, w4, w5, w6, w7) = OperandsArm<TBlock>(group, half);
                var d = half == 0 ? dw : dv;
                var m = half == 0 ? mw : mv;
                for (var t = 0; t < 4; t++)
                {
                    var a = (BlockQ8_1*)(activations + (t * stride));
                    var s = TDot.Chain(Vector128<int>.Zero, w0, w1, w2, w3, w4, w5, w6, w7, AdvSimd.LoadVector128(a->Qs), AdvSimd.LoadVector128(a->Qs + 16));
                    var da = Vector128.Create(Fp16.ToFloat(a->D));
                    var sa = Vector128.Create(Fp16.ToFloat(a->S));
                    var out0 = y + (t * yStride) + (4 * half);
                    AdvSimd.FusedMultiplyAdd(AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(out0), AdvSimd.ConvertToSingle(s), d * da), m, sa).Store(out0);
                }
            }
        }
    }
}
