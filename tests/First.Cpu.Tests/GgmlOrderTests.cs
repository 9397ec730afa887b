using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// Kernels that sum in llama.cpp's own order give its floats bit for bit, so generation on llama.cpp's files
/// follows llama.cpp token for token instead of drifting at near ties. Each is compared with a scalar twin
/// that spells the order out, on real quantized rows of every length; the model-level evidence is
/// <see cref="ModelParityTests"/> (Q4_0 logits within a few ulp) and <see cref="GoldenOutputTests"/>.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class GgmlOrderTests
{
    /// <summary>The x86 row kernels that sum in ggml's eight-lane order (their twins: <see cref="Twin"/>).</summary>
    public static TheoryData<string> LaneKernels() =>
        ["Q4_0.DotAvxVnni", "Q4_0.DotAvx2", "Q8_0.DotAvxVnni", "Q8_0.DotAvx2", "Q5_0.DotAvxVnni", "Q5_0.DotAvx2"];

    private static float Twin(GgmlType type, byte* w, byte* a, int n) => type switch
    {
        GgmlType.Q4_0 => Q4_0.DotLanesScalar(w, a, n),
        GgmlType.Q5_0 => Q5_0.DotLanesScalar(w, a, n),
        GgmlType.Q8_0 => Q8_0.DotLanesScalar(w, a, n),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no lane-order twin"),
    };

    [Theory]
    [MemberData(nameof(LaneKernels))]
    public void Row_kernels_on_x86_sum_in_ggml_lane_order_bit_for_bit(string name)
    {
        var kernel = KernelRegistry.AllDots.Single(k => k.Name == name);
        if (!kernel.IsSupported)
        {
            Assert.Skip($"{name}: this host cannot run the {kernel.Path} path (it offers {KernelRegistry.Describe()})");
        }

        var type = kernel.Type;
        var format = QuantFormats.Get(type);
        for (var blocks = 1; blocks <= 20; blocks++)
        {
            var count = blocks;
            Prop.ForAll(Arb.From(Generators.RealisticRow(32, count).Two()), pair =>
            {
                var (wf, af) = pair;
                var n = wf.Length;
                var w = new byte[format.RowBytes(n)];
                var stride = ActivationFormat.Q8.Bytes(n);
                var a = new byte[4 * stride];
                var four = new float[4];
                fixed (float* pw = wf)
                fixed (float* pa = af)
                fixed (byte* qw = w)
                fixed (byte* qa = a)
                fixed (float* y = four)
                {
                    format.Quantize(pw, qw, n);
                    for (var t = 0; t < 4; t++)
                    {
                        // Four different tokens: the row's activations scaled by t + 1 and rotated by t values.
                        var at = af.Select((_, i) => af[(i + t) % n] * (t + 1)).ToArray();
                        fixed (float* pat = at)
                        {
                            ActivationFormat.Q8.Quantize(pat, qa + (t * stride), n);
                        }
                    }

                    var expected = Twin(type, qw, qa, n);
                    var actual = kernel.Dot(qw, qa, n);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"{name}, {count} blocks: twin {expected:R}, kernel {actual:R}");
                    kernel.Dot4(qw, qa, stride, n, y);
                    for (var t = 0; t < 4; t++)
                    {
                        var one = Twin(type, qw, qa + (t * stride), n);
                        Assert.True(BitConverter.SingleToInt32Bits(one) == BitConverter.SingleToInt32Bits(four[t]), $"{name} four tokens, {count} blocks, token {t}: twin {one:R}, kernel {four[t]:R}");
                    }
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(10));
        }
    }

    public static TheoryData<GgmlOrder> Orders() => [GgmlOrder.Avx512, GgmlOrder.Avx2];

    [Theory]
    [MemberData(nameof(Orders))]
    public void F16_vector_dot_sums_in_ggml_order_bit_for_bit_for_every_length(GgmlOrder order)
    {
        // 0..300 values: no whole step of 64, several, and every remainder.
        for (var n = 0; n <= 300; n++)
        {
            var len = n;
            Prop.ForAll(Arb.From(Generators.RealisticRow(1, Math.Max(len, 1)).Two()), pair =>
            {
                var (wf, af) = pair;
                var w = new byte[2 * len];
                var a = new byte[2 * len];
                fixed (float* pw = wf)
                fixed (float* pa = af)
                fixed (byte* hw = w)
                fixed (byte* ha = a)
                {
                    F16.Quantize(pw, hw, len);
                    F16.Quantize(pa, ha, len);
                    var expected = F16.DotScalar(hw, ha, len, order);
                    var actual = F16.DotVector(hw, ha, len, order);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"n = {len}: twin {expected:R}, vector {actual:R}");
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(3));
        }
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void Tile_probabilities_and_their_sum_equal_the_scalar_twin_bit_for_bit(GgmlOrder order)
    {
        // A tile of 64 scores below a maximum, some masked (−∞), some far below it (subnormal and zero results).
        var gen = Gen.ArrayOf(Gen.OneOf(
            Gen.Choose(-200_000, 0).Select(i => i / 1e3f),
            Gen.Choose(-4_000, 0).Select(i => i / 1e3f),
            Gen.Constant(float.NegativeInfinity)), 64);
        Prop.ForAll(Arb.From(gen), scores =>
        {
            var max = scores.Max();
            max = float.IsNegativeInfinity(max) ? 0 : max;
            var expected = (float[])scores.Clone();
            var actual = (float[])scores.Clone();
            fixed (float* pe = expected)
            fixed (float* pa = actual)
            {
                var sumExpected = Attention.ProbabilitiesScalar(pe, max, order);
                var sumActual = Attention.Probabilities(pa, max, order);
                Assert.Equal(BitConverter.DoubleToInt64Bits(sumExpected), BitConverter.DoubleToInt64Bits(sumActual));
            }

            Assert.Equal(expected, actual);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Q4_0_lane_order_twin_is_the_exact_dot_product_when_the_arithmetic_is_exact()
    {
        // Largest values −8 and 127 in every block make both scales 1, so every value is a small integer and every order gives
        // the exact sum: the twin's lanes must add up to it (a wrong nibble or lane mapping would not).
        var r = new Random(11);
        for (var blocks = 1; blocks <= 8; blocks++)
        {
            var n = 32 * blocks;
            var wf = Enumerable.Range(0, n).Select(_ => (float)r.Next(-8, 8)).ToArray();
            var af = Enumerable.Range(0, n).Select(_ => (float)r.Next(-127, 128)).ToArray();
            for (var b = 0; b < blocks; b++)
            {
                wf[32 * b] = -8;
                af[32 * b] = 127;
            }
            var w = new byte[QuantFormats.Get(GgmlType.Q4_0).RowBytes(n)];
            var a = new byte[ActivationFormat.Q8.Bytes(n)];
            fixed (float* pw = wf)
            fixed (float* pa = af)
            fixed (byte* qw = w)
            fixed (byte* qa = a)
            {
                Q4_0.Quantize(pw, qw, n);
                ActivationFormat.Q8.Quantize(pa, qa, n);
                var back = new float[n];
                var backA = new float[n];
                fixed (float* pb = back)
                fixed (float* pba = backA)
                {
                    Q4_0.Dequantize(qw, pb, n);
                    ActivationFormat.Q8.Dequantize(qa, pba, n);
                }

                var exact = back.Zip(backA, (x, y) => (double)x * y).Sum();
                Assert.Equal(exact, (double)Q4_0.DotLanesScalar(qw, qa, n));
            }
        }
    }
}
