using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Eight-row layouts (ours) of the nibble formats with a fifth bit or a minimum: Q5_0, Q4_1, Q5_1. A block of
/// the eight rows holds the same bytes as their eight blocks:
/// <code>
/// ushort d[8]               the eight rows' scales
/// ushort m[8]               Q4_1, Q5_1: the eight rows' minimums
/// byte   q[4][8][4]         chunk c: nibble bytes 4c .. 4c + 3 of each row in turn (as Q4_0's layout)
/// byte   h[8][4]            Q5_0, Q5_1: [r][i], bit k the fifth bit of value 4k + i of row r
/// </code>
/// In block_q5_0, block_q4_1 and block_q5_1 (ggml-common.h; dequantize_row_q5_0 and the others) value j &lt; 16 is
/// the low nibble of qs[j] and value 16 + j the high one, with bit j (or 16 + j) of qh as its fifth bit. Operand k
/// (values 4k .. 4k + 3 of each row, the bytes one vpdpbusd or sdot pairs with a broadcast group of four activation
/// bytes) is then a chunk's low (k &lt; 4) or high nibbles with bit k of the h bytes as bit 4: the h bytes lie exactly
/// under the operand's bytes, so one shift and one mask bring any operand's fifth bits into place. The levels are read
/// unsigned (0..15 or 0..31). Q5_0's sums start from −16·Σa, as Q4_0's from −8·Σa; Q4_1 and Q5_1 add m · s_a per block.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Offset of Q5_0's nibble chunks in a group block (after d[8]).</summary>
    internal const int Q5_0Quants = 2 * Rows;

    /// <summary>Offset of Q5_0's fifth-bit bytes.</summary>
    internal const int Q5_0High = Q5_0Quants + (4 * Rows * ChunkBytes);

    /// <summary>Offset of Q4_1's and Q5_1's minimums (after d[8]).</summary>
    internal const int MinOffset = 2 * Rows;

    /// <summary>Offset of Q4_1's and Q5_1's nibble chunks (after d[8] and m[8]).</summary>
    internal const int MinQuants = 4 * Rows;

    /// <summary>Offset of Q5_1's fifth-bit bytes.</summary>
    internal const int MinHigh = MinQuants + (4 * Rows * ChunkBytes);

    /// <summary>
    /// Interleaves rows <paramref name="row"/>..+7 of a matrix of <paramref name="blocks"/> blocks per row into <paramref name="group"/>,
    /// with its nibble chunks at <paramref name="quants"/> and its fifth-bit bytes at <paramref name="high"/> (−1: none). The
    /// group's half-precision fields, one array of eight per field, fill the bytes before <paramref name="quants"/>; a row's
    /// block holds the same fields, then the 32-bit qh where there are fifth bits, then 16 nibble bytes.
    /// </summary>
    private static void PackNibbles(byte* matrix, int rowBytes, int blocks, int quants, int high, int row, byte* group)
    {
        var halves = quants / (2 * Rows);
        var fifth = high >= 0;
        var blockBytes = (2 * halves) + (fifth ? 4 : 0) + 16;
        for (var b = 0; b < blocks; b++, group += Rows * blockBytes)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = matrix + ((long)(row + r) * rowBytes) + ((long)b * blockBytes);
                for (var f = 0; f < halves; f++)
                {
                    ((ushort*)group)[(f * Rows) + r] = Unsafe.ReadUnaligned<ushort>(block + (2 * f));
                }

                var qs = block + (2 * halves) + (fifth ? 4 : 0);
                for (var c = 0; c < 4; c++)
                {
                    Unsafe.WriteUnaligned(group + quants + (c * Rows * ChunkBytes) + (r * ChunkBytes), Unsafe.ReadUnaligned<uint>(qs + (c * ChunkBytes)));
                }

                if (!fifth)
                {
                    continue;
                }

                var qh = Unsafe.ReadUnaligned<uint>(block + (2 * halves));
                for (var i = 0; i < ChunkBytes; i++)
                {
                    var h = 0;
                    for (var k = 0; k < 8; k++)
                    {
                        h |= (int)((qh >> ((4 * k) + i)) & 1) << k;
                    }

                    group[high + (r * ChunkBytes) + i] = (byte)h;
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="PackNibbles"/> for row <paramref name="r"/>'s block <paramref name="b"/>.</summary>
    private static void UnpackNibbles(byte* group, int quants, int high, int b, int r, byte* to)
    {
        var halves = quants / (2 * Rows);
        var fifth = high >= 0;
        var blockBytes = (2 * halves) + (fifth ? 4 : 0) + 16;
        var g = group + ((long)b * Rows * blockBytes);
        for (var f = 0; f < halves; f++)
        {
            Unsafe.WriteUnaligned(to + (2 * f), ((ushort*)g)[(f * Rows) + r]);
        }

        var qs = to + (2 * halves) + (fifth ? 4 : 0);
        for (var c = 0; c < 4; c++)
        {
            Unsafe.WriteUnaligned(qs + (c * ChunkBytes), Unsafe.ReadUnaligned<uint>(g + quants + (c * Rows * ChunkBytes) + (r * ChunkBytes)));
        }

        if (!fifth)
        {
            return;
        }

        uint qh = 0;
        for (var i = 0; i < ChunkBytes; i++)
        {
            uint h = g[high + (r * ChunkBytes) + i];
            for (var k = 0; k < 8; k++)
            {
                qh |= ((h >> k) & 1) << ((4 * k) + i);
            }
        }

        Unsafe.WriteUnaligned(to + (2 * halves), qh);
    }
}
