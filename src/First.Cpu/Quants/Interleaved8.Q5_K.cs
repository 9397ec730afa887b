using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_K's eight-row layout (ours), the same 8 × 176 bytes per super-block as the eight blocks: the first
/// 128 bytes as Q4_K's (d, dmin, the six-bit scales and mins in the same order), then
/// <code>
/// byte   qh[8][8][4]          [k][r][4]: qh bytes 4k .. 4k + 3 of row r
/// byte   q[4][8][8][4]        [h][k][r][4]: nibble bytes 32h + 4k .. + 3 of row r
/// </code>
/// In block_q5_K (ggml-common.h; dequantize_row_q5_K) bit g of qh[l] is the fifth bit of value l of group g, and
/// the nibbles lie as Q4_K's. The qh operands come first: every pair of groups needs all eight of them, so a
/// one-token product reads them once at the start and then streams through the nibbles in order.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Bytes of a Q5_K group super-block (eight rows).</summary>
    internal const int Q5_KGroupBlock = Rows * BlockQ5_K.Size;

    /// <summary>Offset of the qh operands in a Q5_K group super-block.</summary>
    internal const int Q5_KHigh = 128;

    /// <summary>Offset of the nibble operands.</summary>
    internal const int Q5_KQuants = 128 + 256;

    /// <summary>Interleaves rows <paramref name="row"/>..+7 of a Q5_K matrix into <paramref name="group"/>.</summary>
    private static void PackQ5_K(byte* matrix, int rowBytes, int blocks, int row, byte* group)
    {
        for (var b = 0; b < blocks; b++, group += Q5_KGroupBlock)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = (BlockQ5_K*)(matrix + ((long)(row + r) * rowBytes) + ((long)b * BlockQ5_K.Size));
                PackScaleMins(group, r, block->D, block->DMin, block->Scales);
                for (var k = 0; k < 8; k++)
                {
                    Unsafe.WriteUnaligned(group + Q5_KHigh + (32 * k) + (4 * r), Unsafe.ReadUnaligned<uint>(block->Qh + (4 * k)));
                    for (var h = 0; h < 4; h++)
                    {
                        Unsafe.WriteUnaligned(group + Q5_KQuants + (256 * h) + (32 * k) + (4 * r), Unsafe.ReadUnaligned<uint>(block->Qs + (32 * h) + (4 * k)));
                    }
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="PackQ5_K"/> for row <paramref name="r"/>'s block <paramref name="b"/>.</summary>
    private static void UnpackQ5_K(byte* group, int b, int r, byte* to)
    {
        var g = group + ((long)b * Q5_KGroupBlock);
        var block = (BlockQ5_K*)to;
        UnpackScaleMins(g, r, out block->D, out block->DMin, block->Scales);
        for (var k = 0; k < 8; k++)
        {
            Unsafe.WriteUnaligned(block->Qh + (4 * k), Unsafe.ReadUnaligned<uint>(g + Q5_KHigh + (32 * k) + (4 * r)));
            for (var h = 0; h < 4; h++)
            {
                Unsafe.WriteUnaligned(block->Qs + (32 * h) + (4 * k), Unsafe.ReadUnaligned<uint>(g + Q5_KQuants + (256 * h) + (32 * k) + (4 * r)));
            }
        }
    }
}
