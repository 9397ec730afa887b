using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q4_K's eight-row layout (ours), the same 8 × 144 bytes per super-block as the eight blocks:
/// <code>
/// ushort d[8], dmin[8]        the rows' super-scales
/// byte   sm[2][2][2][4][2]    [h / 2][r / 4][h % 2][r % 4][e]: scale of group 2h + e of row r (bits 0-5), bits 4-5 of its min (bits 6-7)
/// byte   mlo[2][2][2][4]      [h / 2][r / 4][h % 2][r % 4]: bits 0-3 of the min of group 2h (low nibble) and 2h + 1 (high nibble)
/// byte   q[4][8][8][4]        [h][k][r][4]: nibble bytes 32h + 4k .. + 3 of row r
/// </code>
/// Block_q4_K's twelve bytes of scales and mins (ggml-common.h; unpacked as get_scale_min_k4) hold 8 + 8 six-bit
/// values, so the rearrangement is lossless. A 32-byte operand (h, k) holds four nibble bytes of each row: its low
/// nibbles are values 4k..4k+3 of group 2h, its high nibbles those of group 2h + 1, so a broadcast group of four
/// activation bytes times the operand (vpdpbusd) leaves each row's partial sum in its own int32 lane. Scales and
/// mins are ordered so that one 32-byte load holds those of rows 0..3 in its low 128 bits and of rows 4..7 in its
/// high 128 bits, for two values of h: an in-lane byte shuffle (vpshufb) then spreads them into the rows' lanes.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Bytes of a Q4_K group super-block (eight rows).</summary>
    internal const int Q4_KGroupBlock = Rows * BlockQ4_K.Size;

    /// <summary>Offset of the scale bytes (sm) in a Q4_K group super-block.</summary>
    internal const int Q4_KScales = 32;

    /// <summary>Offset of the mins' low nibbles (mlo).</summary>
    internal const int Q4_KMinNibbles = 64 + 32;

    /// <summary>Offset of the nibbles.</summary>
    internal const int Q4_KQuants = 128;

    /// <summary>Interleaves rows <paramref name="row"/>..+7 of a Q4_K matrix into <paramref name="group"/>.</summary>
    private static void PackQ4_K(byte* matrix, int rowBytes, int blocks, int row, byte* group)
    {
        for (var b = 0; b < blocks; b++, group += Q4_KGroupBlock)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = (BlockQ4_K*)(matrix + ((long)(row + r) * rowBytes) + ((long)b * BlockQ4_K.Size));
                PackScaleMins(group, r, block->D, block->DMin, block->Scales);
                for (var h = 0; h < 4; h++)
                {
                    for (var k = 0; k < 8; k++)
                    {
                        Unsafe.WriteUnaligned(group + Q4_KQuants + (256 * h) + (32 * k) + (4 * r), Unsafe.ReadUnaligned<uint>(block->Qs + (32 * h) + (4 * k)));
                    }
                }
            }
        }
    }

    /// <summary>Where the scale byte of group 2h + e of row r lies in a Q4_K group super-block.</summary>
    private static int ScaleByte(int h, int r, int e) => Q4_KScales + (32 * (h >> 1)) + (16 * (r >> 2)) + (8 * (h & 1)) + (2 * (r & 3)) + e;

    /// <summary>Where the byte of min nibbles of groups 2h, 2h + 1 of row r lies.</summary>
    private static int MinNibbleByte(int h, int r) => Q4_KMinNibbles + (16 * (h >> 1)) + (8 * (r >> 2)) + (4 * (h & 1)) + (r & 3);

    /// <summary>The inverse of <see cref="PackQ4_K"/> for row <paramref name="r"/>'s block <paramref name="b"/>.</summary>
    private static void UnpackQ4_K(byte* group, int b, int r, byte* to)
    {
        var g = group + ((long)b * Q4_KGroupBlock);
        var block = (BlockQ4_K*)to;
        UnpackScaleMins(g, r, out block->D, out block->DMin, block->Scales);
        for (var h = 0; h < 4; h++)
        {
            for (var k = 0; k < 8; k++)
            {
                Unsafe.WriteUnaligned(block->Qs + (32 * h) + (4 * k), Unsafe.ReadUnaligned<uint>(g + Q4_KQuants + (256 * h) + (32 * k) + (4 * r)));
            }
        }
    }

    /// <summary>Row <paramref name="r"/>'s d, dmin and packed scales and mins (get_scale_min_k4's twelve bytes) into a group super-block's first 128 bytes.</summary>
    private static void PackScaleMins(byte* group, int r, ushort d, ushort dmin, byte* packed)
    {
        ((ushort*)group)[r] = d;
        ((ushort*)group)[Rows + r] = dmin;
        for (var h = 0; h < 4; h++)
        {
            KQuants.ScaleMin(2 * h, packed, out var s0, out var m0);
            KQuants.ScaleMin((2 * h) + 1, packed, out var s1, out var m1);
            group[ScaleByte(h, r, 0)] = (byte)(s0 | ((m0 >> 4) << 6));
            group[ScaleByte(h, r, 1)] = (byte)(s1 | ((m1 >> 4) << 6));
            group[MinNibbleByte(h, r)] = (byte)((m0 & 0xF) | ((m1 & 0xF) << 4));
        }
    }

    /// <summary>The inverse of <see cref="PackScaleMins"/>.</summary>
    private static void UnpackScaleMins(byte* g, int r, out ushort d, out ushort dmin, byte* packed)
    {
        d = ((ushort*)g)[r];
        dmin = ((ushort*)g)[Rows + r];
        var scales = stackalloc byte[8];
        var mins = stackalloc byte[8];
        for (var h = 0; h < 4; h++)
        {
            for (var e = 0; e < 2; e++)
            {
                var sm = g[ScaleByte(h, r, e)];
                scales[(2 * h) + e] = (byte)(sm & 0x3F);
                mins[(2 * h) + e] = (byte)(((g[MinNibbleByte(h, r)] >> (4 * e)) & 0xF) | ((sm >> 6) << 4));
            }
        }

        // get_scale_min_k4's packing (KQuants.ScaleMin read backwards).
        for (var j = 0; j < 4; j++)
        {
            packed[j] = (byte)(scales[j] | ((scales[j + 4] >> 4) << 6));
            packed[j + 4] = (byte)(mins[j] | ((mins[j + 4] >> 4) << 6));
            packed[j + 8] = (byte)((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
        }
    }
}
