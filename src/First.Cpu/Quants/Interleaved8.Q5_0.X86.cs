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
