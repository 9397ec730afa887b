using System.Runtime.CompilerServices;
using First.Gguf;

namespace First.Cpu.Quants;

/// <summary>
/// Eight weight rows interleaved block by block, for formats whose block is a half scale followed by
/// quant bytes (Q4_0, Q8_0). Block b of a group of rows r0..r7 becomes
/// <code>
/// ushort d[8]            the eight rows' scales
/// byte   q[Quants / 4][8][4]   chunk c: four quant bytes (4c..4c+3) of each row in turn
/// </code>
/// the same bytes as the eight blocks, in an order where one 32-byte load holds four quant bytes of
/// each of the eight rows. A product of one four-byte activation group, broadcast, with such a chunk
/// (vpdpbusd on x86, sdot by element on ARM) then leaves each row's partial sum in its own lane, and the
/// eight rows' results come out as one vector, converted and scaled once per block rather than once
/// per row. llama.cpp repacks Q4_0 for its CPU backend the same way (ggml-cpu/repack.cpp,
/// block_q4_0x8); the layout here is ours. Q5_0, Q4_1, Q5_1, Q4_K, Q5_K and Q6_K have layouts of their own on the
/// same principle (Interleaved8.Nibbles.cs, .Q4_K.cs, .Q5_K.cs, .Q6_K.cs); <see cref="Pack"/> chooses by format.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>Rows per group.</summary>
    public const int Rows = 8;

    /// <summary>Quant bytes each row contributes to a chunk.</summary>
    public const int ChunkBytes = 4;

    /// <summary>
    /// Zeroes the eight outputs of each of four tokens (<paramref name="yStride"/> floats apart), for the four-token
    /// kernels that add each super-block's results into their outputs rather than hold them in registers.
    /// </summary>
    internal static void ClearOutputs(float* y, int yStride)
    {
        for (var t = 0; t < 4; t++)
        {
            new Span<float>(y + (t * yStride), Rows).Clear();
        }
    }

    /// <summary>Bytes of a group's block for a format whose blocks take <paramref name="blockBytes"/> bytes.</summary>
    public static int GroupBlockBytes(int blockBytes) => Rows * blockBytes;

    /// <summary>
    /// Interleaves rows <paramref name="row"/>..+7 of a <paramref name="type"/> matrix (rows of <paramref name="rowBytes"/>
    /// bytes) into <paramref name="group"/>: eight times <paramref name="rowBytes"/> bytes.
    /// </summary>
    /// <exception cref="NotSupportedException">The format has no interleaved layout.</exception>
    public static void Pack(GgmlType type, byte* matrix, int rowBytes, int row, byte* group)
    {
        switch (type)
        {
            case GgmlType.Q4_0:
            case GgmlType.Q8_0:
                var blockBytes = GgmlTypes.Get(type).BytesPerBlock;
                PackHalfScaled(matrix, rowBytes, blockBytes, rowBytes / blockBytes, row, group);
                break;
            case GgmlType.Q5_0:
                PackNibbles(matrix, rowBytes, rowBytes / BlockQ5_0.Size, Q5_0Quants, Q5_0High, row, group);
                break;
            case GgmlType.Q4_1:
                PackNibbles(matrix, rowBytes, rowBytes / BlockQ4_1.Size, MinQuants, -1, row, group);
                break;
            case GgmlType.Q5_1:
                PackNibbles(matrix, rowBytes, rowBytes / BlockQ5_1.Size, MinQuants, MinHigh, row, group);
                break;
            case GgmlType.Q4_K:
                PackQ4_K(matrix, rowBytes, rowBytes / BlockQ4_K.Size, row, group);
                break;
            case GgmlType.Q5_K:
                PackQ5_K(matrix, rowBytes, rowBytes / BlockQ5_K.Size, row, group);
                break;
            case GgmlType.Q6_K:
                PackQ6_K(matrix, rowBytes, rowBytes / BlockQ6_K.Size, row, group);
                break;
            default:
                throw new NotSupportedException($"no interleaved layout for {GgmlTypes.NameOf((uint)type)}");
        }
    }

    /// <summary>The inverse of <see cref="Pack"/>: row <paramref name="r"/>'s block <paramref name="b"/> back in its stored layout (for tests).</summary>
    public static void Unpack(GgmlType type, byte* group, int b, int r, byte* block)
    {
        switch (type)
        {
            case GgmlType.Q4_0:
            case GgmlType.Q8_0:
                UnpackHalfScaled(group, GgmlTypes.Get(type).BytesPerBlock, b, r, block);
                break;
            case GgmlType.Q5_0:
                UnpackNibbles(group, Q5_0Quants, Q5_0High, b, r, block);
                break;
            case GgmlType.Q4_1:
                UnpackNibbles(group, MinQuants, -1, b, r, block);
                break;
            case GgmlType.Q5_1:
                UnpackNibbles(group, MinQuants, MinHigh, b, r, block);
                break;
            case GgmlType.Q4_K:
                UnpackQ4_K(group, b, r, block);
                break;
            case GgmlType.Q5_K:
                UnpackQ5_K(group, b, r, block);
                break;
            case GgmlType.Q6_K:
                UnpackQ6_K(group, b, r, block);
                break;
            default:
                throw new NotSupportedException($"no interleaved layout for {GgmlTypes.NameOf((uint)type)}");
        }
    }

    /// <summary>
    /// Interleaves rows <paramref name="row"/>..+7 of a matrix of <paramref name="blocks"/> blocks per row
    /// (each <paramref name="blockBytes"/> bytes: a half scale, then quant bytes) into <paramref name="group"/>.
    /// </summary>
    private static void PackHalfScaled(byte* matrix, int rowBytes, int blockBytes, int blocks, int row, byte* group)
    {
        var chunks = (blockBytes - 2) / ChunkBytes;
        for (var b = 0; b < blocks; b++, group += Rows * blockBytes)
        {
            for (var r = 0; r < Rows; r++)
            {
                var block = matrix + ((long)(row + r) * rowBytes) + ((long)b * blockBytes);
                ((ushort*)group)[r] = Unsafe.ReadUnaligned<ushort>(block);
                for (var c = 0; c < chunks; c++)
                {
                    Unsafe.WriteUnaligned(group + (2 * Rows) + (c * Rows * ChunkBytes) + (r * ChunkBytes), Unsafe.ReadUnaligned<uint>(block + 2 + (c * ChunkBytes)));
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="PackHalfScaled"/>.</summary>
    private static void UnpackHalfScaled(byte* group, int blockBytes, int b, int r, byte* block)
    {
        var chunks = (blockBytes - 2) / ChunkBytes;
        var g = group + ((long)b * Rows * blockBytes);
        Unsafe.WriteUnaligned(block, ((ushort*)g)[r]);
        for (var c = 0; c < chunks; c++)
        {
            Unsafe.WriteUnaligned(block + 2 + (c * ChunkBytes), Unsafe.ReadUnaligned<uint>(g + (2 * Rows) + (c * Rows * ChunkBytes) + (r * ChunkBytes)));
        }
    }
}
