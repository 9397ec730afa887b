using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_0's eight-row layout (ours), the same 8 × 22 bytes per block as the eight blocks:
/// <code>
/// ushort d[8]               the eight rows' scales
/// byte   q[4][8][4]         chunk c: nibble bytes 4c .. 4c + 3 of each row in turn (as Q4_0's layout)
/// byte   h[8][4]            [r][i]: bit k is the fifth bit of value 4k + i of row r
/// </code>
/// In block_q5_0 (ggml-common.h; dequantize_row_q5_0) value j &lt; 16 is the low nibble of qs[j] and value 16 + j
/// the high one, each with bit j (or 16 + j) of qh as its fifth bit; the level less 16 is the weight. Operand k
/// (values 4k .. 4k + 3 of each row, the bytes one vpdpbusd or sdot pairs with a broadcast group of four
/// activation bytes) is then a chunk's low (k &lt; 4) or high nibbles with bit k of the h bytes as bit 4: the
/// h bytes lie exactly under the operand's bytes, so one shift and one mask bring any operand's fifth bits into
/// place. The levels are read unsigned (0..31), and the sums start from −16·Σa, as Q4_0's from −8·Σa.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Bytes of a Q5_0 group block (eight rows).</summary>
    internal const int Q5_0GroupBlock = Rows * BlockQ5_0.Size;

    /// <summary>Offset of the nibble chunks in a Q5_0 group block.</summary>
    internal const int Q5_0Quants = 2 * Rows;

    /// <summary>Offset of the fifth-bit bytes in a Q5_0 group block.</summary>
    internal const int Q5_0High = Q5_0Quants + (4 * Rows * ChunkBytes);

    /// <summary>Interleaves rows <paramref name="row"/>..+7 of a Q5_0 matrix into <paramref name="group"/>.</summary>
    private static void PackQ5_0(byte* matrix, int rowBytes, int blocks, int row, byte* group)
    {
        for (var b = 0; b < blocks; b++, group += Q5_0GroupBlock)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = (BlockQ5_0*)(matrix + ((long)(row + r) * rowBytes) + ((long)b * BlockQ5_0.Size));
                ((ushort*)group)[r] = block->D;
                for (var c = 0; c < 4; c++)
                {
                    Unsafe.WriteUnaligned(group + Q5_0Quants + (c * Rows * ChunkBytes) + (r * ChunkBytes), Unsafe.ReadUnaligned<uint>(block->Qs + (c * ChunkBytes)));
                }

                var qh = Unsafe.ReadUnaligned<uint>(block->Qh);
                for (var i = 0; i < ChunkBytes; i++)
                {
                    var h = 0;
                    for (var k = 0; k < 8; k++)
                    {
                        h |= (int)((qh >> ((4 * k) + i)) & 1) << k;
                    }

                    group[Q5_0High + (r * ChunkBytes) + i] = (byte)h;
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="PackQ5_0"/> for row <paramref name="r"/>'s block <paramref name="b"/>.</summary>
    private static void UnpackQ5_0(byte* group, int b, int r, byte* to)
    {
        var g = group + ((long)b * Q5_0GroupBlock);
        var block = (BlockQ5_0*)to;
        block->D = ((ushort*)g)[r];
        for (var c = 0; c < 4; c++)
        {
            Unsafe.WriteUnaligned(block->Qs + (c * ChunkBytes), Unsafe.ReadUnaligned<uint>(g + Q5_0Quants + (c * Rows * ChunkBytes) + (r * ChunkBytes)));
        }

        uint qh = 0;
        for (var i = 0; i < ChunkBytes; i++)
        {
            uint h = g[Q5_0High + (r * ChunkBytes) + i];
            for (var k = 0; k < 8; k++)
            {
                qh |= ((h >> k) & 1) << ((4 * k) + i);
            }
        }

        Unsafe.WriteUnaligned(block->Qh, qh);
    }
}
