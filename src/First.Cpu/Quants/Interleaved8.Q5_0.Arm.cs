using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_0 interleaved on arm64 (<see cref="Interleaved8"/>'s Q5_0 layout): operand k of rows 0..3 or 4..7 is chunk k's
/// low nibbles (k &lt; 4) or chunk k − 4's high ones, with bit k of the fifth-bit bytes as bit 4. Levels 0..31, valid
/// as signed bytes; the sums start from −16·Σa.
/// </summary>
internal readonly unsafe struct Q5_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => Interleaved8.Q5_0GroupBlock;

    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half)
    {
        var h = AdvSimd.LoadVector128(block + Interleaved8.Q5_0High + (16 * half));
        var c = AdvSimd.LoadVector128(block + Interleaved8.Q5_0Quants + (32 * (k & 3)) + (16 * half));
        var levels = k < 4 ? c & Vector128.Create((byte)0x0F) : AdvSimd.ShiftRightLogical(c, 4);
        return (levels | (FifthBits(h, k) & Vector128.Create((byte)0x10))).AsSByte();
    }

    /// <summary>The fifth-bit bytes with bit <paramref name="k"/> of each moved to bit 4 (k is a constant where inlined; ushr takes 1..8 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> FifthBits(Vector128<byte> h, int k) => k switch
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
}
