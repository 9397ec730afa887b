using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q6_K's eight-row layout (ours), the same 8 × 210 bytes per super-block as the eight blocks:
/// <code>
/// ushort d[8]                 the rows' super-scales
/// sbyte  sc[8][8][2]          [p][r][e]: scale of group 2p + e (values 32p + 16e .. + 15) of row r
/// byte   q[2][8][3][8][4]     [h][k][j][r][4]: bytes 4k .. 4k + 3 of row r's ql[64h ..] (j = 0), ql[64h + 32 ..] (j = 1)
///                             and qh[32h ..] (j = 2)
/// </code>
/// In block_q6_K (ggml-common.h; dequantize_row_q6_K) each half h of 128 values keeps value l (0..31) in the low
/// nibble of ql[64h + l] and bits 0-1 of qh[32h + l], value l + 32 in ql[64h + 32 + l] and bits 2-3, l + 64 in the
/// high nibble of ql[64h + l] and bits 4-5, l + 96 in the high nibble of ql[64h + 32 + l] and bits 6-7. So the
/// three operands (h, k, j) give four 32-byte operands of six-bit levels, values l = 4k..4k+3 of each quarter, every
/// row's four in its own int32 lane. They lie in the order one token's product reads them: scattered reads within a
/// super-block halved the speed of streaming it from memory. A pair of scales per row, sign-extended to int16, serves
/// both vpmaddwd (with the activations' sums of 16, for the levels' offset 32) and, split, vpmulld.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Bytes of a Q6_K group super-block (eight rows).</summary>
    internal const int Q6_KGroupBlock = Rows * BlockQ6_K.Size;

    /// <summary>Offset of the scales in a Q6_K group super-block.</summary>
    internal const int Q6_KScales = 16;

    /// <summary>Offset of the operands.</summary>
    internal const int Q6_KQuants = 16 + 128;

    /// <summary>Where operand triple (h, k) lies: ql[64h + 4k ..], ql[64h + 32 + 4k ..], qh[32h + 4k ..] of the eight rows.</summary>
    internal static int Q6_KTriple(int h, int k) => Q6_KQuants + (96 * ((8 * h) + k));

    /// <summary>Interleaves rows <paramref name="row"/>..+7 of a Q6_K matrix into <paramref name="group"/>.</summary>
    private static void PackQ6_K(byte* matrix, int rowBytes, int blocks, int row, byte* group)
    {
        for (var b = 0; b < blocks; b++, group += Q6_KGroupBlock)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = (BlockQ6_K*)(matrix + ((long)(row + r) * rowBytes) + ((long)b * BlockQ6_K.Size));
                ((ushort*)group)[r] = block->D;
                for (var g = 0; g < 16; g++)
                {
                    ((sbyte*)group)[Q6_KScales + (16 * (g >> 1)) + (2 * r) + (g & 1)] = block->Scales[g];
                }

                for (var h = 0; h < 2; h++)
                {
                    for (var k = 0; k < 8; k++)
                    {
                        var triple = group + Q6_KTriple(h, k) + (4 * r);
                        Unsafe.WriteUnaligned(triple, Unsafe.ReadUnaligned<uint>(block->Ql + (64 * h) + (4 * k)));
                        Unsafe.WriteUnaligned(triple + 32, Unsafe.ReadUnaligned<uint>(block->Ql + (64 * h) + 32 + (4 * k)));
                        Unsafe.WriteUnaligned(triple + 64, Unsafe.ReadUnaligned<uint>(block->Qh + (32 * h) + (4 * k)));
                    }
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="PackQ6_K"/> for row <paramref name="r"/>'s block <paramref name="b"/>.</summary>
    private static void UnpackQ6_K(byte* group, int b, int r, byte* to)
    {
        var g = group + ((long)b * Q6_KGroupBlock);
        var block = (BlockQ6_K*)to;
        block->D = ((ushort*)g)[r];
        for (var s = 0; s < 16; s++)
        {
            block->Scales[s] = ((sbyte*)g)[Q6_KScales + (16 * (s >> 1)) + (2 * r) + (s & 1)];
        }

        for (var h = 0; h < 2; h++)
        {
            for (var k = 0; k < 8; k++)
            {
                var triple = g + Q6_KTriple(h, k) + (4 * r);
                Unsafe.WriteUnaligned(block->Ql + (64 * h) + (4 * k), Unsafe.ReadUnaligned<uint>(triple));
                Unsafe.WriteUnaligned(block->Ql + (64 * h) + 32 + (4 * k), Unsafe.ReadUnaligned<uint>(triple + 32));
                Unsafe.WriteUnaligned(block->Qh + (32 * h) + (4 * k), Unsafe.ReadUnaligned<uint>(triple + 64));
            }
        }
    }
}
