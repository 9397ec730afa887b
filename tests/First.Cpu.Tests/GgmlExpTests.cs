using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using First.Cpu.Kernels;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// ggml's vector e^x (<see cref="GgmlExp"/>): the four- and sixteen-lane forms give the scalar reference's bits for
/// every input, across the whole range the softmax feeds it (0 down to −∞), into the subnormal results below
/// e^−87, past the ±192 cut-offs and at the special values. The value of the reference itself is checked against
/// llama.cpp's tiled flash attention in <see cref="GgmlAttentionTests"/>.
/// </summary>
public sealed class GgmlExpTests
{
    private static readonly float[] Specials =
    [
        0f, -0f, 1f, -1f, 88.7f, 88.8f, 89f, -87.3f, -87.4f, -100f, -103.9f, -104f, -110f, -133f, -134f, 133f, 134f,
        float.NegativeInfinity, float.PositiveInfinity, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue,
    ];

    private static Gen<float[]> Inputs =>
        Gen.ArrayOf(Gen.OneOf(
            Gen.Choose(-1_000_000, 0).Select(i => i / 1e4f), // softmax arguments
            Gen.Choose(-150_000, 150_000).Select(i => i / 1e3f),
            Gen.Elements(Specials),
            ArbMap.Default.GeneratorFor<float>()), 16);

    [Fact]
    public void Four_lanes_equal_the_scalar_reference() =>
        Prop.ForAll(Arb.From(Inputs), x =>
        {
            for (var i = 0; i < 16; i += 4)
            {
                var v = GgmlExp.Vector(Vector128.Create(x, i));
                for (var k = 0; k < 4; k++)
                {
                    AssertSame(x[i + k], GgmlExp.Scalar(x[i + k]), v.GetElement(k));
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));

    [Fact]
    public void Sixteen_lanes_equal_the_scalar_reference()
    {
        if (!Avx512F.IsSupported)
        {
            Assert.Skip("AVX-512 is not available (vscalefps)");
        }

        Prop.ForAll(Arb.From(Inputs), x =>
        {
            var v = GgmlExp.Vector(Vector512.Create(x));
            for (var k = 0; k < 16; k++)
            {
                AssertSame(x[k], GgmlExp.Scalar(x[k]), v.GetElement(k));
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void The_reference_is_within_four_parts_in_ten_million_of_exp_and_exact_at_the_ends()
    {
        for (var x = -87f; x <= 88f; x += 0.0137f)
        {
            var expected = Math.Exp(x);
            var actual = GgmlExp.Scalar(x);
            Assert.True(Math.Abs(actual - expected) <= 4e-7 * expected, $"e^{x:R} = {expected:R}, got {actual:R}");
        }

        Assert.Equal(0f, GgmlExp.Scalar(float.NegativeInfinity));
        Assert.Equal(1f, GgmlExp.Scalar(0f));
        Assert.Equal(float.PositiveInfinity, GgmlExp.Scalar(200f));
        Assert.Equal(0f, GgmlExp.Scalar(-200f));
    }

    private static void AssertSame(float x, float expected, float actual) =>
        Assert.True(
            BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual) || (float.IsNaN(expected) && float.IsNaN(actual)),
            $"e^{x:R}: {actual:R}, the reference {expected:R}");
}
