using System.Runtime.InteropServices;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// Our reference quantizers write the bytes ggml's quantize_row_*_ref writes, and our dequantizers
/// return the floats ggml's dequantize_row_* returns, bit for bit, on rows built to stress them.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class QuantBitExactTests
{
    public static TheoryData<GgmlType> QuantizedTypes() =>
    [
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q8_1,
        GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K, GgmlType.F16, GgmlType.BF16,
    ];

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void Quantize_writes_the_bytes_ggml_writes(GgmlType type)
    {
        var ggml = GgmlQuants.Quantize(type);
        var format = QuantFormats.Get(type);
        var maxBlocks = format.Info.BlockSize == 256 ? 6 : 24;
        Prop.ForAll(Arb.From(Generators.Rows(format.Info.BlockSize, maxBlocks)), row =>
        {
            var expected = new byte[format.RowBytes(row.Length)];
            var actual = new byte[expected.Length];
            fixed (float* x = row)
            fixed (byte* e = expected)
            fixed (byte* a = actual)
            {
                ggml(x, e, row.Length);
                format.Quantize(x, a, row.Length);
            }

            var at = expected.AsSpan().CommonPrefixLength(actual);
            Assert.True(at == expected.Length, $"{type}: byte {at} of {expected.Length} differs (block {at / format.Info.BytesPerBlock}): ggml {(at < expected.Length ? expected[at] : 0)}, ours {(at < actual.Length ? actual[at] : 0)}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Theory]
    [MemberData(nameof(QuantizedTypes))]
    public void Dequantize_returns_the_floats_ggml_returns(GgmlType type)
    {
        var ggml = GgmlQuants.Dequantize(type);
        if (ggml is null)
        {
            Assert.Skip($"ggml exports no dequantize_row for {type}");
        }

        var format = QuantFormats.Get(type);
        Prop.ForAll(Arb.From(Generators.Rows(format.Info.BlockSize, 8)), ArbMap.Default.ArbFor<bool>(), (row, randomBytes) =>
        {
            // Blocks from our quantizer, or random bytes with finite scales: every bit pattern a file may hold.
            var blocks = new byte[format.RowBytes(row.Length)];
            fixed (float* x = row)
            fixed (byte* b = blocks)
            {
                format.Quantize(x, b, row.Length);
            }

            if (randomBytes)
            {
                RandomBlocks(type, blocks, row.GetHashCode());
            }

            var expected = new float[row.Length];
            var actual = new float[row.Length];
            fixed (byte* b = blocks)
            fixed (float* e = expected)
            fixed (float* a = actual)
            {
                ggml(b, e, row.Length);
                format.Dequantize(b, a, row.Length);
            }

            for (var i = 0; i < row.Length; i++)
            {
                Assert.True(BitEqual(expected[i], actual[i]), $"{type}: value {i}: ggml {expected[i]:R}, ours {actual[i]:R}");
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void Block_structs_have_ggml_sizes()
    {
        Assert.Equal(BlockQ4_0.Size, sizeof(BlockQ4_0));
        Assert.Equal(BlockQ4_1.Size, sizeof(BlockQ4_1));
        Assert.Equal(BlockQ5_0.Size, sizeof(BlockQ5_0));
        Assert.Equal(BlockQ5_1.Size, sizeof(BlockQ5_1));
        Assert.Equal(BlockQ8_0.Size, sizeof(BlockQ8_0));
        Assert.Equal(BlockQ8_1.Size, sizeof(BlockQ8_1));
        Assert.Equal(BlockQ4_K.Size, sizeof(BlockQ4_K));
        Assert.Equal(BlockQ5_K.Size, sizeof(BlockQ5_K));
        Assert.Equal(BlockQ6_K.Size, sizeof(BlockQ6_K));
        Assert.Equal(BlockQ8_K.Size, sizeof(BlockQ8_K));
        foreach (var f in QuantFormats.All.Where(f => f.Info.BlockSize > 1))
        {
            Assert.Equal(f.Info.BytesPerBlock, Marshal.SizeOf(BlockTypeOf(f.Type)));
        }
    }

    private static Type BlockTypeOf(GgmlType t) => typeof(BlockQ4_0).Assembly.GetType($"First.Cpu.Quants.Block{t}")!;

    private static bool BitEqual(float a, float b) => BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b) || (float.IsNaN(a) && float.IsNaN(b));

    /// <summary>Random bytes, with every half scale made finite (NaN payloads are not a property of the format).</summary>
    private static void RandomBlocks(GgmlType type, byte[] blocks, int seed)
    {
        new Random(seed).NextBytes(blocks);
        var info = GgmlTypes.Get(type);
        int[] halfOffsets = type switch
        {
            GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => [0],
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q8_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            GgmlType.Q6_K => [208],
            GgmlType.F16 => [0],
            _ => [],
        };
        for (var b = 0; b < blocks.Length; b += info.BytesPerBlock)
        {
            foreach (var o in halfOffsets)
            {
                blocks[b + o + 1] &= 0xBB; // exponent below 31: finite
            }

            if (type == GgmlType.Q8_K)
            {
                blocks[b + 3] &= 0xBF; // float exponent below 255: finite
            }
        }
    }
}
