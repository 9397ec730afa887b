using System.Runtime.Intrinsics;
using First.Cpu.Kernels;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// ggml's vector e^x in both builds' forms (<see cref="Elementwise.GgmlExp(float, GgmlOrder)"/>, which SwiGLU and the tiled
/// attention use): the four-, eight- and sixteen-lane forms give the scalar reference's bits for every input, across the
/// whole range the softmax feeds it (0 down to −∞), into the subnormal results below e^−87, past the ±126 and ±192
/// cut-offs and at the special values, on whatever each width runs on here (software where a width is not accelerated).
/// The reference's own accuracy is ElementwiseTests'; its agreement with ggml is checked through llama.cpp's tiled flash
/// attention in <see cref="GgmlAttentionTests"/>, against the build of each order.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed class GgmlExpTests
{
    private static readonly float[] Specials =
    [
        0f, -0f, 1f, -1f, 87.3f, 87.4f, 88.7f, 88.8f, 89f, -87.3f, -87.4f, -100f, -103.9f, -104f, -110f, -133f, -134f, 133f, 134f,
        float.NegativeInfinity, float.PositiveInfinity, float.NaN, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue,
    ];

    private static Gen<float[]> Inputs =>
        Gen.ArrayOf(Gen.OneOf(
            Gen.Choose(-1_000_000, 0).Select(i => i / 1e4f), // softmax arguments
            Gen.Choose(-150_000, 150_000).Select(i => i / 1e3f),
            Gen.Elements(Specials),
            ArbMap.Default.GeneratorFor<float>()), 16);

    [Fact]
    public void Four_lanes_equal_the_scalar_reference() =>
        Check(4, GgmlOrder.Avx512, (x, i, y) => Elementwise.Exp(Vector128.Create(x, i)).CopyTo(y));

    [Fact]
    public void Eight_lanes_equal_the_scalar_reference() =>
        Check(8, GgmlOrder.Avx512, (x, i, y) => Elementwise.Exp(Vector256.Create(x, i)).CopyTo(y));

    [Fact]
    public void Sixteen_lanes_equal_the_scalar_reference() =>
        Check(16, GgmlOrder.Avx512, (x, i, y) => Elementwise.Exp(Vector512.Create(x, i)).CopyTo(y));

    [Fact]
    public void Avx2_build_exp_in_four_lanes_equals_its_scalar_reference() =>
        Check(4, GgmlOrder.Avx2, (x, i, y) => Elementwise.ExpAvx2(Vector128.Create(x, i)).CopyTo(y));

    [Fact]
    public void Avx2_build_exp_in_eight_lanes_equals_its_scalar_reference() =>
        Check(8, GgmlOrder.Avx2, (x, i, y) => Elementwise.ExpAvx2(Vector256.Create(x, i)).CopyTo(y));

    [Fact]
    public void The_two_builds_exp_differ_only_in_the_last_bit_on_normal_results()
    {
        // The AVX2 form rounds 1 + j where the AVX-512 one rounds j + 1 inside the polynomial: a last-bit difference on
        // some inputs, never more, while both are normal floats.
        var differ = 0;
        for (var x = -87f; x <= 88f; x += 0.00731f)
        {
            var a = BitConverter.SingleToInt32Bits(Elementwise.GgmlExp(x, GgmlOrder.Avx512));
            var b = BitConverter.SingleToInt32Bits(Elementwise.GgmlExp(x, GgmlOrder.Avx2));
            Assert.InRange(a - b, -1, 1);
            differ += a != b ? 1 : 0;
        }

        Assert.True(differ > 0, "the two forms never differed: the AVX2 one is not its own formula");
    }

    /// <summary>Sixteen inputs, <paramref name="width"/> at a time through <paramref name="exp"/> (inputs, offset, lanes out), each lane against the scalar form of <paramref name="order"/>.</summary>
    private static void Check(int width, GgmlOrder order, Action<float[], int, float[]> exp) =>
        Prop.ForAll(Arb.From(Inputs), x =>
        {
            var y = new float[width];
            for (var i = 0; i < 16; i += width)
            {
                exp(x, i, y);
                for (var k = 0; k < width; k++)
                {
                    AssertSame(x[i + k], Elementwise.GgmlExp(x[i + k], order), y[k]);
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));

    private static void AssertSame(float x, float expected, float actual) =>
        Assert.True(
            BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual) || (float.IsNaN(expected) && float.IsNaN(actual)),
            $"e^{x:R}: {actual:R}, the reference {expected:R}");
}
