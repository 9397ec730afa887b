using System.Numerics;
using System.Runtime.Intrinsics;
using First.Cpu.Kernels;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>The vectorized element-wise operations against their scalar twins, for every length 0..256.</summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class ElementwiseTests
{
    private static Gen<float[]> Values(int n, float scale) =>
        ArbMap.Default.GeneratorFor<int>().Select(seed =>
        {
            var r = new Random(seed);
            return Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2) - 1) * scale).ToArray();
        });

    [Fact]
    public void RmsNorm_matches_scalar_for_every_length()
    {
        for (var n = 1; n <= 256; n++)
        {
            var len = n;
            Prop.ForAll(Arb.From(Values(len, 10f).Two()), p =>
            {
                var (x, w) = p;
                var fast = new float[len];
                var slow = new float[len];
                Elementwise.RmsNorm(x, w, 1e-5f, fast);
                Elementwise.RmsNormScalar(x, w, 1e-5f, slow);
                for (var i = 0; i < len; i++)
                {
                    // Budget: two float roundings (x·scale, then ·w) versus one fused order: 2 ulp of the result.
                    Assert.True(Math.Abs(fast[i] - slow[i]) <= 2.5e-7f * Math.Abs(slow[i]) + 1e-30f, $"n={len} i={i}: {fast[i]} vs {slow[i]}");
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(3));
        }
    }

    [Fact]
    public void Softmax_matches_scalar_for_every_length_and_sums_to_one()
    {
        for (var n = 0; n <= 256; n++)
        {
            var len = n;
            Prop.ForAll(Arb.From(Values(len, 30f)), x =>
            {
                var fast = (float[])x.Clone();
                var slow = (float[])x.Clone();
                Elementwise.Softmax(fast);
                Elementwise.SoftmaxScalar(slow);
                for (var i = 0; i < len; i++)
                {
                    // Budget: vectorized exp is within a few ulp of MathF.Exp; sums differ in order.
                    Assert.True(Math.Abs(fast[i] - slow[i]) <= 1e-6f * Math.Max(slow[i], 1e-6f) + 1e-7f, $"n={len} i={i}: {fast[i]} vs {slow[i]}");
                }

                if (len > 0)
                {
                    Assert.InRange(fast.Sum(), 0.9999f, 1.0001f);
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(3));
        }
    }

    public static TheoryData<GgmlOrder> Orders() => [GgmlOrder.Avx512, GgmlOrder.Avx2];

    [Theory]
    [MemberData(nameof(Orders))]
    public void SwiGlu_equals_its_scalar_twin_bit_for_bit_for_every_width(GgmlOrder order)
    {
        // Two rows of every width 1..256: the 16- or 8-lane chunks, the C-library tail, and (scale 120) lanes whose
        // 2^n is not a normal float.
        for (var width = 1; width <= 256; width++)
        {
            var w = width;
            foreach (var scale in new[] { 12f, 120f })
            {
                Prop.ForAll(Arb.From(Values(2 * w, scale).Two()), p =>
                {
                    var (g, u) = p;
                    var expected = new float[2 * w];
                    var actual = new float[2 * w];
                    Elementwise.SwiGluScalar(g, u, expected, w, order);
                    Elementwise.SwiGlu(g, u, actual, w, order);
                    for (var i = 0; i < 2 * w; i++)
                    {
                        Assert.True(BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i]), $"width {w} i={i} g={g[i]}: {actual[i]} vs {expected[i]}");
                    }
                }).Check(Config.QuickThrowOnFailure.WithMaxTest(2));
            }
        }
    }

    [Fact]
    public void SwiGlu_may_write_over_its_gate_input()
    {
        for (var n = 0; n <= 600; n += 37)
        {
            var len = n;
            Prop.ForAll(Arb.From(Values(len, 12f).Two()), p =>
            {
                var (g, u) = p;
                var expected = new float[len];
                Elementwise.SwiGluScalar(g, u, expected, Math.Max(len, 1));
                Elementwise.SwiGlu(g, u, g, Math.Max(len, 1));
                Assert.Equal(expected, g);
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(3));
        }
    }

    [Fact]
    public void Gelu_table_is_ggml_own_for_every_half()
    {
        // ggml_gelu on the CPU looks x up in its table after rounding to half: feeding it every finite half in (−10, 10)
        // returns the table itself.
        ReferenceLlama.RequireAvailable();
        var halves = Enumerable.Range(0, 65536).Select(h => (ushort)h)
            .Where(h => float.IsFinite((float)BitConverter.UInt16BitsToHalf(h)) && Math.Abs((float)BitConverter.UInt16BitsToHalf(h)) < 10f).ToArray();
        var x = halves.Select(h => (float)BitConverter.UInt16BitsToHalf(h)).ToArray();
        var expected = ReferenceGgml.Gelu(x);
        var table = Elementwise.GeluTable;
        var wrong = Enumerable.Range(0, halves.Length).Where(i => BitConverter.SingleToInt32Bits(table[halves[i]]) != BitConverter.SingleToInt32Bits(expected[i])).ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {halves.Length} entries differ, e.g. gelu({x[wrong.FirstOrDefault()]:R}) = {table[halves[wrong.FirstOrDefault()]]:R}, ggml's {expected[wrong.FirstOrDefault()]:R}");

        // GEGLU: the cut-offs at ±10 and the table in between.
        float[] gate = [-11f, -10f, -9.99f, -0.5f, 0f, 0.7f, 9.99f, 10f, 12f];
        float[] up = [2f, 2f, 2f, 3f, 1f, -1f, 0.5f, 0.5f, 0.25f];
        var y = new float[gate.Length];
        Elementwise.GeGlu(gate, up, y);
        var gelu = ReferenceGgml.Gelu(gate);
        for (var i = 0; i < gate.Length; i++)
        {
            Assert.Equal(gelu[i] * up[i], y[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void Ggml_exp_is_within_two_ulp_of_the_C_library_and_saturates_as_ggml_does(GgmlOrder order)
    {
        // ggml states a maximum error of 1.45 ulp plus 0.5 ulp of rounding; a wrong constant shows far above that.
        for (var x = -87f; x <= 88f; x += 0.0137f)
        {
            var expected = MathF.Exp(x);
            var actual = Elementwise.GgmlExp(x, order);
            Assert.True(Math.Abs(actual - expected) <= 2.5f * (MathF.BitIncrement(expected) - expected), $"exp({x}): {actual} vs {expected}");
        }

        Assert.Equal(0f, Elementwise.GgmlExp(-140f, order));
        Assert.Equal(0f, Elementwise.GgmlExp(float.NegativeInfinity, order));
        Assert.Equal(float.PositiveInfinity, Elementwise.GgmlExp(140f, order));
        Assert.Equal(1f, Elementwise.GgmlExp(0f, order));
        Assert.True(float.IsNaN(Elementwise.GgmlExp(float.NaN, order)));

        // Subnormal results (e^−100 ≈ 3.7e−44): within a few of the smallest steps, however each build rounds there.
        for (var x = -103f; x <= -88f; x += 0.25f)
        {
            Assert.True(Math.Abs(Elementwise.GgmlExp(x, order) - MathF.Exp(x)) <= 4 * float.Epsilon + (2.5f * (MathF.BitIncrement(MathF.Exp(x)) - MathF.Exp(x))), $"exp({x})");
        }
    }

    [Fact]
    public void Half_rounding_of_the_vector_path_equals_a_conversion_through_Half()
    {
        // Random bit patterns (every exponent: normal, subnormal, overflow, NaN) and every half boundary ±1 ulp.
        var special = Enumerable.Range(0, 0x7C01).SelectMany(h =>
        {
            var f = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            var mid = h < 0x7C00 ? ((double)f + (double)(float)BitConverter.UInt16BitsToHalf((ushort)(h + 1))) / 2 : f;
            return new[] { f, (float)mid, MathF.BitIncrement((float)mid), MathF.BitDecrement((float)mid), -(float)mid };
        }).ToArray();
        Check(special);
        Prop.ForAll(Arb.From(Gen.ArrayOf(ArbMap.Default.GeneratorFor<uint>(), 64)), bits => Check([.. bits.Select(BitConverter.UInt32BitsToSingle)]))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(500));

        // Both widths (Vector<float>: 256 bits with AVX2, 128 with NEON or SSE; and 512), each on whatever the host does with it.
        static void Check(float[] values)
        {
            values = [.. values, .. new float[(16 - (values.Length % 16)) % 16]]; // every value, the last ones too
            for (var i = 0; i < values.Length; i += 16)
            {
                var r512 = HalfAccumulator.Round(Vector512.Create<float>(values.AsSpan(i, 16)));
                for (var k = 0; k < 16; k++)
                {
                    var x = values[i + k];
                    var expected = HalfAccumulator.RoundScalar(x);
                    Assert.True(expected.Equals(r512[k]), $"{x:R} ({BitConverter.SingleToUInt32Bits(x):X8}): Half gives {expected:R}, 512-bit {r512[k]:R}");
                }

                for (var j = i; j < i + 16; j += Vector<float>.Count)
                {
                    var rounded = HalfAccumulator.Round(new Vector<float>(values.AsSpan(j, Vector<float>.Count)));
                    for (var k = 0; k < Vector<float>.Count; k++)
                    {
                        var x = values[j + k];
                        var expected = HalfAccumulator.RoundScalar(x);
                        Assert.True(expected.Equals(rounded[k]), $"{x:R} ({BitConverter.SingleToUInt32Bits(x):X8}): Half gives {expected:R}, {8 * sizeof(float) * Vector<float>.Count}-bit {rounded[k]:R}");
                    }
                }
            }
        }
    }

    [Fact]
    public void Half_accumulator_equals_position_by_position_half_updates_for_every_length()
    {
        // Lanes 1..70 (every tail of the 8-vector blocks and single vectors: 64 and 8 lanes with AVX2, 32 and 4 with
        // NEON), 1..5 positions, rescales of exactly 1 among others.
        for (var n = 1; n <= 70; n++)
        {
            var len = n;
            var gen = from positions in Gen.Choose(1, 5)
                      from rows in Values(positions * len, 4f)
                      from y0 in Values(len, 4f)
                      from rescale in Gen.Elements(1f, 1f, 0.61f, 0f, 0.999f).ArrayOf(positions)
                      from weight in Values(positions, 1f)
                      select (positions, rows, y0, rescale, weight);
            Prop.ForAll(Arb.From(gen), c =>
            {
                var (positions, rows, y0, rescale, weight) = c;
                var expected = y0.Select(HalfAccumulator.RoundScalar).ToArray();
                var y = expected.ToArray();
                for (var p = 0; p < positions; p++)
                {
                    for (var i = 0; i < len; i++)
                    {
                        var v = rescale[p] != 1 ? HalfAccumulator.RoundScalar(expected[i] * rescale[p]) : expected[i];
                        expected[i] = HalfAccumulator.RoundScalar(MathF.FusedMultiplyAdd(rows[(p * len) + i], weight[p], v));
                    }
                }

                fixed (float* py = y)
                fixed (float* pr = rows)
                fixed (float* ps = rescale)
                fixed (float* pw = weight)
                {
                    HalfAccumulator.Accumulate(py, len, pr, ps, pw, positions);
                }

                Assert.Equal(expected, y);
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(5));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rope_is_a_rotation_that_keeps_pair_norms_and_is_identity_at_position_0(bool neox)
    {
        var r = new Random(7);
        var head = Enumerable.Range(0, 64).Select(_ => (float)r.NextDouble() - 0.5f).ToArray();
        var at0 = (float[])head.Clone();
        Elementwise.Rope(at0, 0, 64, 10000f, 1f, neox);
        Assert.Equal(head, at0);

        var rotated = (float[])head.Clone();
        Elementwise.Rope(rotated, 17, 64, 10000f, 1f, neox);
        for (var i = 0; i < 32; i++)
        {
            var (a, b) = neox ? (i, i + 32) : (2 * i, (2 * i) + 1);
            var before = (head[a] * head[a]) + (head[b] * head[b]);
            var after = (rotated[a] * rotated[a]) + (rotated[b] * rotated[b]);
            Assert.Equal(before, after, 1e-5f);
        }

        // The first pair turns by exactly pos radians (theta_0 = pos).
        var (x0, x1) = neox ? (head[0], head[32]) : (head[0], head[1]);
        var expected0 = (x0 * MathF.Cos(17)) - (x1 * MathF.Sin(17));
        Assert.Equal(expected0, rotated[0], 1e-5f);
    }
}
