using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// Every SIMD kernel against its scalar twin, on every path this host can run; the others are reported
/// as skipped. Dot products: exact where the arithmetic is exact (unit scales, small integers: any
/// summation order gives the same float), within a stated rounding budget on real quantized rows, for
/// every block count from 1 to 40 (every tail of the unrolled loops). Quantizers: the same bytes.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class KernelEquivalenceTests
{
    public static TheoryData<string> DotKernels() => [.. KernelRegistry.AllDots.Where(k => k.Path != KernelPath.Scalar).Select(k => k.Name)];

    public static TheoryData<string> Quantizers() => [.. KernelRegistry.AllQuantizers.Where(k => k.Path != KernelPath.Scalar).Select(k => k.Name)];

    [Theory]
    [MemberData(nameof(DotKernels))]
    public void Dot_equals_scalar_exactly_when_the_arithmetic_is_exact(string name)
    {
        var kernel = Runnable(name);
        var format = QuantFormats.Get(kernel.Type);
        Prop.ForAll(Arb.From(ExactOperands(format)), ops =>
        {
            fixed (byte* w = ops.Weights)
            fixed (byte* a = ops.Activations)
            {
                var expected = format.DotScalar(w, a, ops.N);
                var actual = kernel.Dot(w, a, ops.N);
                Assert.True(expected == actual, $"{name}, n = {ops.N}: scalar {expected:R}, kernel {actual:R}");
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Theory]
    [MemberData(nameof(DotKernels))]
    public void Dot_equals_scalar_within_rounding_on_quantized_rows_of_every_length(string name)
    {
        var kernel = Runnable(name);
        var format = QuantFormats.Get(kernel.Type);
        var activation = format.Activation;
        var block = format.Info.BlockSize;
        for (var blocks = 1; blocks <= 40; blocks++)
        {
            var count = blocks;
            Prop.ForAll(Arb.From(Generators.RealisticRow(block, count).Two()), pair =>
            {
                var (wf, af) = pair;
                var w = new byte[format.RowBytes(wf.Length)];
                var a = new byte[activation.Bytes(af.Length)];
                fixed (float* pw = wf)
                fixed (float* pa = af)
                fixed (byte* qw = w)
                fixed (byte* qa = a)
                {
                    format.Quantize(pw, qw, wf.Length);
                    activation.Quantize(pa, qa, af.Length);
                    var expected = format.DotScalar(qw, qa, wf.Length);
                    var actual = kernel.Dot(qw, qa, wf.Length);
                    var budget = Budget(format, activation, qw, qa, wf.Length);
                    Assert.True(Math.Abs((double)expected - actual) <= budget || (float.IsNaN(expected) && float.IsNaN(actual)) || expected == actual,
                        $"{name}, {count} blocks: scalar {expected:R}, kernel {actual:R}, budget {budget:R}");
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(12));
        }
    }

    public static TheoryData<string> Dot4Kernels() => [.. KernelRegistry.AllDots.Where(k => k.Dot4 != null).Select(k => k.Name)];

    [Theory]
    [MemberData(nameof(Dot4Kernels))]
    public void Dot4_equals_four_scalar_dots_within_rounding_for_every_length(string name)
    {
        var kernel = Runnable(name);
        var format = QuantFormats.Get(kernel.Type);
        var activation = format.Activation;
        var block = format.Info.BlockSize;
        for (var blocks = 1; blocks <= 40; blocks++)
        {
            var count = blocks;
            var gen = from w in Generators.RealisticRow(block, count)
                      from a0 in Generators.RealisticRow(block, count)
                      from a1 in Generators.RealisticRow(block, count)
                      from a2 in Generators.RealisticRow(block, count)
                      from a3 in Generators.RealisticRow(block, count)
                      select (w, new[] { a0, a1, a2, a3 });
            Prop.ForAll(Arb.From(gen), c =>
            {
                var (wf, afs) = c;
                var n = wf.Length;
                var stride = activation.Bytes(n) + 32; // rows need not be adjacent
                var w = new byte[format.RowBytes(n)];
                var a = new byte[4 * stride];
                var output = new float[4];
                fixed (float* pw = wf)
                fixed (byte* qw = w)
                fixed (byte* qa = a)
                fixed (float* o = output)
                {
                    format.Quantize(pw, qw, n);
                    for (var t = 0; t < 4; t++)
                    {
                        fixed (float* pa = afs[t])
                        {
                            activation.Quantize(pa, qa + (t * stride), n);
                        }
                    }

                    kernel.Dot4(qw, qa, stride, n, o);
                    for (var t = 0; t < 4; t++)
                    {
                        var expected = format.DotScalar(qw, qa + (t * stride), n);
                        var budget = Budget(format, activation, qw, qa + (t * stride), n);
                        Assert.True(Math.Abs((double)expected - output[t]) <= budget,
                            $"{name}, {count} blocks, token {t}: scalar {expected:R}, kernel {output[t]:R}, budget {budget:R}");
                    }
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(8));
        }
    }

    [Theory]
    [MemberData(nameof(Quantizers))]
    public void Quantizer_writes_the_bytes_of_the_scalar_quantizer(string name)
    {
        var kernel = KernelRegistry.AllQuantizers.Single(k => k.Name == name);
        if (!kernel.IsSupported)
        {
            Assert.Skip($"{name}: this host cannot run the {kernel.Path} path");
        }

        var format = kernel.Format;
        Prop.ForAll(Arb.From(Generators.Rows(format.BlockSize, 40)), row =>
        {
            var expected = new byte[format.Bytes(row.Length)];
            var actual = new byte[expected.Length];
            fixed (float* x = row)
            fixed (byte* e = expected)
            fixed (byte* a = actual)
            {
                format.Quantize(x, e, row.Length);
                kernel.Quantize(x, a, row.Length);
            }

            Assert.Equal(expected, actual);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
    }

    [Fact]
    public void Every_weight_format_has_a_scalar_kernel_and_the_registry_chooses_a_runnable_one()
    {
        foreach (var f in QuantFormats.All.Where(f => f.IsWeightFormat))
        {
            Assert.Contains(KernelRegistry.AllDots, k => k.Type == f.Type && k.Path == KernelPath.Scalar);
            var chosen = KernelRegistry.ChooseDot(f.Type);
            Assert.True(chosen.IsSupported, chosen.Name);
        }
    }

    [Fact]
    public void Forced_paths_are_parsed_and_checked_against_the_host()
    {
        Assert.Null(KernelRegistry.ParseForced(null));
        Assert.Equal(KernelPath.Scalar, KernelRegistry.ParseForced("scalar"));
        Assert.Throws<ArgumentException>(() => KernelRegistry.ParseForced("sse9"));
        foreach (var path in Enum.GetValues<KernelPath>().Where(p => !KernelRegistry.IsSupported(p)))
        {
            Assert.Throws<PlatformNotSupportedException>(() => KernelRegistry.ParseForced(path.ToString().ToLowerInvariant()));
        }

        // A cap keeps its own ladder and everything below it.
        Assert.True(KernelRegistry.Allowed(KernelPath.Avx2, KernelPath.AvxVnni));
        Assert.False(KernelRegistry.Allowed(KernelPath.Avx512, KernelPath.Avx2));
        Assert.False(KernelRegistry.Allowed(KernelPath.Neon, KernelPath.Avx512));
        Assert.True(KernelRegistry.Allowed(KernelPath.Scalar, KernelPath.Scalar));
        Assert.False(KernelRegistry.Allowed(KernelPath.Vector, KernelPath.Scalar));
        Assert.True(KernelRegistry.Allowed(KernelPath.Vector, KernelPath.DotProd));
    }

    /// <summary>
    /// Two sums of the same terms in different orders differ by at most 2·(k − 1)·2^-24·Σ|term| for k additions;
    /// the kernels add per-block (integer-exact) terms into a few float lanes, so k ≤ blocks + 16. Kernels that
    /// read quants unsigned (x + 128, nibbles 0..15) and take the offset back per block sum larger terms
    /// that cancel, so Σ|term| counts the offset too: Σ (|w| + 128·|d_w|)·|a|.
    /// </summary>
    internal static double Budget(QuantFormat weights, ActivationFormat activations, byte* w, byte* a, int n)
    {
        var wf = new float[n];
        var af = new float[n];
        fixed (float* pw = wf)
        fixed (float* pa = af)
        {
            weights.Dequantize(w, pw, n);
            activations.Dequantize(a, pa, n);
        }

        var offsets = activations == ActivationFormat.Q8;
        var magnitude = 0.0;
        for (var i = 0; i < n; i++)
        {
            var dw = offsets ? Fp16.ToFloat(*(ushort*)(w + (i / 32 * weights.Info.BytesPerBlock))) : 0f;
            magnitude += (Math.Abs((double)wf[i]) + (128.0 * Math.Abs(dw)) + SplitTerms(weights.Type, w, i)) * Math.Abs(af[i]);
        }

        var additions = (weights.Info.BlockSize == 1 ? n : n / weights.Info.BlockSize) + 16;
        return (2.0 * additions * Math.Pow(2, -24) * magnitude * 1.01) + 1e-37;
    }

    /// <summary>
    /// What the parts summed apart can reach beyond |w_i|: Q4_1's and Q5_1's d·q and m (w_i is their sum),
    /// Q4_K's and Q5_K's d·sc·q and dmin·m (their difference), Q6_K's d·sc·q and its offset d·sc·32.
    /// </summary>
    private static double SplitTerms(GgmlType type, byte* w, int i)
    {
        switch (type)
        {
            case GgmlType.Q4_1 or GgmlType.Q5_1:
            {
                var block = w + (i / 32 * GgmlTypes.Get(type).BytesPerBlock);
                return (Math.Abs(Fp16.ToFloat(*(ushort*)block)) * 31.0) + Math.Abs(Fp16.ToFloat(*(ushort*)(block + 2)));
            }

            case GgmlType.Q4_K:
            {
                var block = (BlockQ4_K*)w + (i / 256);
                KQuants.ScaleMin(i % 256 / 32, block->Scales, out var sc, out var m);
                return (Math.Abs(Fp16.ToFloat(block->D)) * sc * 15.0) + (Math.Abs(Fp16.ToFloat(block->DMin)) * m);
            }

            case GgmlType.Q5_K:
            {
                var block = (BlockQ5_K*)w + (i / 256);
                KQuants.ScaleMin(i % 256 / 32, block->Scales, out var sc, out var m);
                return (Math.Abs(Fp16.ToFloat(block->D)) * sc * 31.0) + (Math.Abs(Fp16.ToFloat(block->DMin)) * m);
            }

            case GgmlType.Q6_K:
            {
                var block = (BlockQ6_K*)w + (i / 256);
                return Math.Abs(Fp16.ToFloat(block->D) * block->Scales[i % 256 / 16]) * 96.0;
            }

            default:
                return 0;
        }
    }

    private static DotKernel Runnable(string name)
    {
        var kernel = KernelRegistry.AllDots.Single(k => k.Name == name);
        if (!kernel.IsSupported)
        {
            Assert.Skip($"{name}: this host cannot run the {kernel.Path} path (it offers {KernelRegistry.Describe()})");
        }

        return kernel;
    }

    public sealed record Operands(int N, byte[] Weights, byte[] Activations)
    {
        public override string ToString() => $"n = {N}";
    }

    /// <summary>
    /// Operands whose dot product is exact in float whatever the order: unit block scales with quants in
    /// their full range (so |Σ| stays below 2^24 for up to 32 blocks; K-quants: group scales and mins of at
    /// most 3 and up to 4 super-blocks), or small integer float values. One case in four is extreme: every
    /// quant byte the same (0xFF, 0x7F or 0x81: the top levels of the nibble and six-bit formats, ±127 for the
    /// eight-bit ones) against activations all +max or all −max, the largest sums a kernel's narrow
    /// accumulators (the NEON kernels' int16 lanes) must hold.
    /// </summary>
    internal static Gen<Operands> ExactOperands(QuantFormat format)
    {
        var activation = format.Activation;
        var block = format.Info.BlockSize;
        var maxBlocks = block == 1 ? 300 : block == 256 ? 4 : 32;
        return from blocks in Gen.Choose(1, maxBlocks)
               from seed in ArbMap.Default.GeneratorFor<int>()
               select Build(format, activation, blocks * block, seed);

        static Operands Build(QuantFormat format, ActivationFormat activation, int n, int seed)
        {
            var r = new Random(seed);
            var w = new byte[format.RowBytes(n)];
            var a = new byte[activation.Bytes(n)];
            var extreme = r.Next(4) == 0;
            var fill = extreme ? new byte[] { 0xFF, 0x7F, 0x81 }[r.Next(3)] : (byte)0;
            var sign = extreme ? (r.Next(2) * 2) - 1 : 0;
            if (format.Info.BlockSize == 1)
            {
                // Small integers as F32, F16 or BF16: every product and partial sum is an exact float.
                var wf = Enumerable.Range(0, n).Select(_ => (float)r.Next(-16, 17)).ToArray();
                var af = Enumerable.Range(0, n).Select(_ => (float)r.Next(-16, 17)).ToArray();
                fixed (float* pw = wf)
                fixed (float* pa = af)
                fixed (byte* qw = w)
                fixed (byte* qa = a)
                {
                    format.Quantize(pw, qw, n);
                    activation.Quantize(pa, qa, n);
                }
            }
            else if (format.Info.BlockSize == 256)
            {
                Fill(w, fill, r);
                SetSmallKScales(format.Type, w, r);
                RandomUnitKActivations(a, n, r, sign);
            }
            else
            {
                // Random quants with the scales set to 1.0. Signed bytes stay in −127..127: ggml's quantizers
                // never write −128, and the x86 kernels (like ggml's) rely on it (vpsignb cannot negate −128,
                // vpmaddubsw saturates at 2·128·128).
                Fill(w, fill, r);
                AvoidMinus128(format.Type, w);
                SetUnitScales(format.Type, w);
                RandomUnitActivations(activation, a, n, r, sign);
            }

            return new Operands(n, w, a);
        }

        static void Fill(byte[] w, byte fill, Random r)
        {
            if (fill == 0)
            {
                r.NextBytes(w);
            }
            else
            {
                Array.Fill(w, fill);
            }
        }
    }

    /// <summary>An activation quant in −max..max, or ±max for every one where <paramref name="sign"/> is ±1.</summary>
    private static sbyte Quant(Random r, int max, int sign) => (sbyte)(sign == 0 ? r.Next(-max, max + 1) : sign * max);

    /// <summary>Q8 activations with quants in −127..127 (all ±127 where <paramref name="sign"/> is ±1), every scale 1 and the negated block sums −Σq exact.</summary>
    private static void RandomUnitActivations(ActivationFormat activation, byte[] a, int n, Random r, int sign)
    {
        if (activation == ActivationFormat.Q8_1)
        {
            RandomUnitQ8_1(a, n, r, sign);
            return;
        }

        Assert.Equal(ActivationFormat.Q8, activation);
        fixed (byte* p = a)
        {
            var q = (sbyte*)p;
            var d = Q8Activations.Scales(p, n);
            var m = Q8Activations.NegatedSums(p, n);
            for (var i = 0; i < n; i++)
            {
                q[i] = Quant(r, 127, sign);
            }

            for (var b = 0; b < n / 32; b++)
            {
                d[b] = 1f;
                var sum = 0;
                for (var j = 0; j < 32; j++)
                {
                    sum += q[(b * 32) + j];
                }

                m[b] = -sum;
            }
        }
    }

    private static void AvoidMinus128(GgmlType type, byte[] blocks)
    {
        if (type is GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K)
        {
            for (var i = 0; i < blocks.Length; i++)
            {
                blocks[i] = blocks[i] == 0x80 ? (byte)0x81 : blocks[i];
            }
        }
    }

    /// <summary>Super-scales 1.0 (and dmin 1.0) and group scales and mins in 0..3 (Q6_K: −3..3), on random quants.</summary>
    private static void SetSmallKScales(GgmlType type, byte[] blocks, Random r)
    {
        var info = GgmlTypes.Get(type);
        for (var b = 0; b < blocks.Length; b += info.BytesPerBlock)
        {
            switch (type)
            {
                case GgmlType.Q4_K or GgmlType.Q5_K:
                    // d, dmin, then twelve bytes of six-bit scales and mins (KQuants.ScaleMin): bytes 0..7 carry
                    // the low six bits of pairs 0..3 and the top two bits of pairs 4..7; bytes 8..11 the low
                    // four bits of pairs 4..7.
                    blocks[b] = 0x00;
                    blocks[b + 1] = 0x3C;
                    blocks[b + 2] = 0x00;
                    blocks[b + 3] = 0x3C;
                    for (var k = 0; k < 8; k++)
                    {
                        blocks[b + 4 + k] = (byte)(r.Next() & 0x03);
                    }

                    for (var k = 8; k < 12; k++)
                    {
                        blocks[b + 4 + k] = (byte)(r.Next() & 0x33);
                    }

                    break;
                case GgmlType.Q6_K:
                    // ql[128], qh[64], int8 scales[16], then the half d.
                    for (var k = 0; k < 16; k++)
                    {
                        blocks[b + 192 + k] = unchecked((byte)(sbyte)r.Next(-3, 4));
                    }

                    blocks[b + 208] = 0x00;
                    blocks[b + 209] = 0x3C;
                    break;
                default:
                    throw new NotSupportedException($"no exact operands for {type}");
            }
        }
    }

    /// <summary>ggml's block_q8_1 with d = 1 and quants in −63..63, so that s = Σq (at most 2016) is an exact half.</summary>
    private static void RandomUnitQ8_1(byte[] a, int n, Random r, int sign)
    {
        fixed (byte* p = a)
        {
            var blocks = (BlockQ8_1*)p;
            for (var b = 0; b < n / 32; b++)
            {
                var sum = 0;
                for (var l = 0; l < 32; l++)
                {
                    var q = Quant(r, 63, sign);
                    blocks[b].Qs[l] = q;
                    sum += q;
                }

                blocks[b].D = Fp16.FromFloat(1f);
                blocks[b].S = Fp16.FromFloat(sum);
            }
        }
    }

    /// <summary>Q8_K activations with quants in −127..127, d = 1 and the sums of 16 that go with them.</summary>
    private static void RandomUnitKActivations(byte[] a, int n, Random r, int sign)
    {
        fixed (byte* p = a)
        {
            var blocks = (BlockQ8_K*)p;
            for (var b = 0; b < n / 256; b++)
            {
                blocks[b].D = 1f;
                for (var g = 0; g < 16; g++)
                {
                    var sum = 0;
                    for (var l = 0; l < 16; l++)
                    {
                        var q = Quant(r, 127, sign);
                        blocks[b].Qs[(16 * g) + l] = q;
                        sum += q;
                    }

                    blocks[b].Bsums[g] = (short)sum;
                }
            }
        }
    }

    private static void SetUnitScales(GgmlType type, byte[] blocks)
    {
        var info = GgmlTypes.Get(type);
        for (var b = 0; b < blocks.Length; b += info.BytesPerBlock)
        {
            // Half 1.0 = 0x3C00 at the block's scale (offset 0 for every 32-value format here), and at the min
            // of Q4_1 and Q5_1 (offset 2).
            blocks[b] = 0x00;
            blocks[b + 1] = 0x3C;
            if (type is GgmlType.Q4_1 or GgmlType.Q5_1)
            {
                blocks[b + 2] = 0x00;
                blocks[b + 3] = 0x3C;
            }
        }
    }
}

internal static class GenExtensions
{
    public static Gen<(T, T)> Two<T>(this Gen<T> gen) => from a in gen from b in gen select (a, b);
}
