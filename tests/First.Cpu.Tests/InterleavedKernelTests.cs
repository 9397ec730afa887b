using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// The interleaved layout (<see cref="Interleaved8"/>) and its kernels: packing loses nothing, and every
/// kernel gives each of its eight rows what the scalar row dot (the twin) gives that row, exactly where the
/// arithmetic is exact, within the rounding budget on real quantized rows, for every block count 1..40.
/// A path the host cannot run is reported as skipped.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class InterleavedKernelTests
{
    public static TheoryData<string> Kernels() => [.. KernelRegistry.AllInterleaved.Select(k => k.Name)];

    public static TheoryData<GgmlType> Formats() => [.. KernelRegistry.AllInterleaved.Select(k => k.Type).Distinct()];

    [Theory]
    [MemberData(nameof(Formats))]
    public void Packing_then_unpacking_gives_back_every_block(GgmlType type)
    {
        var format = QuantFormats.Get(type);
        var blockBytes = format.Info.BytesPerBlock;
        Prop.ForAll(Arb.From(Gen.Choose(1, format.Info.BlockSize == 256 ? 8 : 40).SelectMany(b => ArbMap.Default.GeneratorFor<int>().Select(s => (b, s)))), c =>
        {
            var (blocks, seed) = c;
            var rowBytes = blocks * blockBytes;
            var matrix = new byte[8 * rowBytes];
            new Random(seed).NextBytes(matrix);
            var group = new byte[matrix.Length];
            var block = new byte[blockBytes];
            fixed (byte* m = matrix)
            fixed (byte* g = group)
            fixed (byte* b = block)
            {
                Interleaved8.Pack(type, m, rowBytes, 0, g);
                for (var r = 0; r < 8; r++)
                {
                    for (var i = 0; i < blocks; i++)
                    {
                        Interleaved8.Unpack(type, g, i, r, b);
                        Assert.Equal(matrix.AsSpan((r * rowBytes) + (i * blockBytes), blockBytes).ToArray(), block);
                    }
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(100));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Every_row_equals_the_scalar_dot_exactly_when_the_arithmetic_is_exact(string name)
    {
        var kernel = Runnable(name);
        var format = QuantFormats.Get(kernel.Type);
        Prop.ForAll(Arb.From(KernelEquivalenceTests.ExactOperands(format)), ops =>
        {
            // Eight rows: the generated row and seven rotations of its blocks, against the generated activations.
            var n = ops.N;
            var rowBytes = ops.Weights.Length;
            var matrix = new byte[8 * rowBytes];
            for (var r = 0; r < 8; r++)
            {
                for (var i = 0; i < rowBytes; i++)
                {
                    matrix[(r * rowBytes) + i] = ops.Weights[(i + (r * format.Info.BytesPerBlock)) % rowBytes];
                }
            }

            Check(kernel, format, matrix, rowBytes, ops.Activations, n, exact: true);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Every_row_equals_the_scalar_dot_within_rounding_for_every_length(string name)
    {
        var kernel = Runnable(name);
        var format = QuantFormats.Get(kernel.Type);
        var activation = format.Activation;
        var block = format.Info.BlockSize;
        for (var blocks = 1; blocks <= (block == 256 ? 8 : 40); blocks++)
        {
            var count = blocks;
            var gen = from w in Generators.RealisticRow(block, count).ArrayOf(8)
                      from a in Generators.RealisticRow(block, count)
                      select (w, a);
            Prop.ForAll(Arb.From(gen), c =>
            {
                var (wfs, af) = c;
                var n = af.Length;
                var rowBytes = format.RowBytes(n);
                var matrix = new byte[8 * rowBytes];
                var a = new byte[activation.Bytes(n)];
                fixed (byte* m = matrix)
                fixed (byte* qa = a)
                fixed (float* pa = af)
                {
                    for (var r = 0; r < 8; r++)
                    {
                        fixed (float* pw = wfs[r])
                        {
                            format.Quantize(pw, m + (r * rowBytes), n);
                        }
                    }

                    activation.Quantize(pa, qa, n);
                }

                Check(kernel, format, matrix, rowBytes, a, n, exact: false);
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(6));
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Products_through_the_interleaved_copy_match_the_scalar_dot_of_every_row_and_token(GgmlType type)
    {
        var format = QuantFormats.Get(type);
        var rowKernel = KernelRegistry.ChooseDot(type);
        if (KernelRegistry.ChooseInterleaved(type, rowKernel) is null)
        {
            Assert.Skip($"no interleaved {type} kernel on this host's path ({rowKernel.Name})");
        }

        var gen = from groups in Gen.Choose(1, 9)
                  from blocks in Gen.Choose(1, 6)
                  from tokens in Gen.Choose(1, 19)
                  from threads in Gen.Choose(1, 3)
                  from seed in ArbMap.Default.GeneratorFor<int>()
                  select new MatMulTests.Case(groups * 8, blocks * format.Info.BlockSize, tokens, threads, seed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (rows, cols, tokens, threads, seed) = c;
            var (weights, inputs) = c.Operands(format);
            fixed (byte* qw = weights)
            {
                var m = new QuantMatrix(qw, type, rows, cols);
                Assert.NotNull(m.Interleaved);
                var scratch = new byte[m.ActivationRowBytes * tokens];
                var y = new float[tokens * (rows + 5)];
                using var pool = new WorkerPool(threads);
                using var copy = m.Interleaved;
                fixed (float* x = inputs)
                fixed (byte* s = scratch)
                fixed (float* py = y)
                {
                    MatMul.Multiply(m, x, cols, tokens, s, py, rows + 5, pool);
                    for (var t = 0; t < tokens; t++)
                    {
                        var a = s + (t * m.ActivationRowBytes);
                        for (var row = 0; row < rows; row++)
                        {
                            var w = qw + (row * m.RowBytes);
                            var expected = format.DotScalar(w, a, cols);
                            var budget = KernelEquivalenceTests.Budget(format, format.Activation, w, a, cols);
                            var actual = py[(t * (rows + 5)) + row];
                            Assert.True(Math.Abs((double)expected - actual) <= budget, $"row {row}, token {t}: scalar {expected:R}, product {actual:R}, budget {budget:R}");
                        }
                    }
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

    /// <summary>
    /// Packs the eight rows, runs Dot on the activations, Dot4 on four copies of them placed apart, and (where the
    /// path has one) Dot4Pair on the group and a second one holding the rows in reverse order (placed apart too),
    /// and compares every row of every result with the scalar dot.
    /// </summary>
    private static void Check(InterleavedKernel kernel, QuantFormat format, byte[] matrix, int rowBytes, byte[] activations, int n, bool exact)
    {
        var group = new byte[matrix.Length];
        var stride = activations.Length + 32; // token rows need not be adjacent
        var four = new byte[4 * stride];
        for (var t = 0; t < 4; t++)
        {
            activations.CopyTo(four, t * stride);
        }

        var one = new float[8];
        var yStride = 11;
        var y4 = new float[4 * yStride];
        var gap = 48;
        var pair = new byte[(2 * matrix.Length) + gap];
        var reversed = new byte[matrix.Length];
        for (var r = 0; r < 8; r++)
        {
            Array.Copy(matrix, r * rowBytes, reversed, (7 - r) * rowBytes, rowBytes);
        }

        var pairStride = 19;
        var yp = new float[4 * pairStride];
        fixed (byte* m = matrix)
        fixed (byte* g = group)
        fixed (byte* a = activations)
        fixed (byte* a4 = four)
        fixed (float* y1 = one)
        fixed (float* y = y4)
        fixed (byte* pp = pair)
        fixed (byte* rv = reversed)
        fixed (float* ypp = yp)
        {
            Interleaved8.Pack(format.Type, m, rowBytes, 0, g);
            Interleaved8.Pack(format.Type, m, rowBytes, 0, pp);
            Interleaved8.Pack(format.Type, rv, rowBytes, 0, pp + matrix.Length + gap);
            kernel.Dot(g, a, n, y1);
            kernel.Dot4(g, a4, stride, n, y, yStride);
            if (kernel.Dot4Pair != null)
            {
                kernel.Dot4Pair(pp, matrix.Length + gap, a4, stride, n, ypp, pairStride);
            }

            if (kernel.Dot8Pair != null)
            {
                CheckEight(kernel, format, m, rowBytes, pp, matrix.Length + gap, activations, n, exact);
            }
            for (var r = 0; r < 8; r++)
            {
                var w = m + (r * rowBytes);
                var expected = format.DotScalar(w, a, n);
                var budget = exact ? 0 : KernelEquivalenceTests.Budget(format, format.Activation, w, a, n);
                Assert.True(Math.Abs((double)expected - one[r]) <= budget, $"{kernel.Name}, {n / format.Info.BlockSize} blocks, row {r}: scalar {expected:R}, one token {one[r]:R}, budget {budget:R}");
                for (var t = 0; t < 4; t++)
                {
                    var actual = y[(t * yStride) + r];
                    Assert.True(Math.Abs((double)expected - actual) <= budget, $"{kernel.Name}, {n / format.Info.BlockSize} blocks, row {r}, token {t} of four: scalar {expected:R}, kernel {actual:R}, budget {budget:R}");
                    if (kernel.Dot4Pair == null)
                    {
                        continue;
                    }

                    var first = yp[(t * pairStride) + r];
                    var second = yp[(t * pairStride) + 8 + (7 - r)];
                    Assert.True(Math.Abs((double)expected - first) <= budget, $"{kernel.Name}, {n / format.Info.BlockSize} blocks, row {r}, token {t}, first group of a pair: scalar {expected:R}, kernel {first:R}, budget {budget:R}");
                    Assert.True(Math.Abs((double)expected - second) <= budget, $"{kernel.Name}, {n / format.Info.BlockSize} blocks, row {r}, token {t}, second group of a pair: scalar {expected:R}, kernel {second:R}, budget {budget:R}");
                }
            }
        }
    }

    /// <summary>
    /// Dot8Pair on the pair of groups <see cref="Check"/> built (the rows, then the rows reversed) against eight
    /// different tokens, the activations with their blocks rotated by 0..7: every result is the scalar dot's within
    /// the budget (exactly when the arithmetic is exact), and the same float as the four-token kernel (Dot4Pair, or
    /// Dot4 on each group) gives the token, bit for bit.
    /// </summary>
    private static void CheckEight(InterleavedKernel kernel, QuantFormat format, byte* matrix, int rowBytes, byte* pair, long groupBytes,
        byte[] activations, int n, bool exact)
    {
        var blocks = n / format.Info.BlockSize;
        var stride = activations.Length + 20;
        var eight = new byte[8 * stride];
        for (var t = 0; t < 8; t++)
        {
            var row = eight.AsSpan(t * stride, activations.Length);
            for (var b = 0; b < blocks; b++)
            {
                var from = (b + t) % blocks;
                if (format.Activation == ActivationFormat.Q8)
                {
                    // Quants block after block, then the scales, then the negated sums.
                    activations.AsSpan(from * Q8Activations.BlockSize, Q8Activations.BlockSize).CopyTo(row[(b * Q8Activations.BlockSize)..]);
                    activations.AsSpan(n + (4 * from), 4).CopyTo(row[(n + (4 * b))..]);
                    activations.AsSpan(n + (4 * blocks) + (4 * from), 4).CopyTo(row[(n + (4 * blocks) + (4 * b))..]);
                }
                else
                {
                    Assert.True(format.Activation == ActivationFormat.Q8_K || format.Activation == ActivationFormat.Q8_1); // self-contained blocks
                    var size = format.Activation == ActivationFormat.Q8_K ? BlockQ8_K.Size : BlockQ8_1.Size;
                    activations.AsSpan(from * size, size).CopyTo(row[(b * size)..]);
                }
            }
        }

        var yStride = 21;
        var y8 = new float[8 * yStride];
        var y4 = new float[8 * yStride];
        fixed (byte* a8 = eight)
        fixed (float* py8 = y8)
        fixed (float* py4 = y4)
        {
            kernel.Dot8Pair(pair, groupBytes, a8, stride, n, py8, yStride);
            for (var t = 0; t < 8; t += 4)
            {
                if (kernel.Dot4Pair != null)
                {
                    kernel.Dot4Pair(pair, groupBytes, a8 + (t * stride), stride, n, py4 + (t * yStride), yStride);
                }
                else
                {
                    kernel.Dot4(pair, a8 + (t * stride), stride, n, py4 + (t * yStride), yStride);
                    kernel.Dot4(pair + groupBytes, a8 + (t * stride), stride, n, py4 + (t * yStride) + 8, yStride);
                }
            }
            for (var t = 0; t < 8; t++)
            {
                var a = a8 + (t * stride);
                for (var r = 0; r < 8; r++)
                {
                    var w = matrix + (r * rowBytes);
                    var expected = format.DotScalar(w, a, n);
                    var budget = exact ? 0 : KernelEquivalenceTests.Budget(format, format.Activation, w, a, n);
                    foreach (var (i, group) in new[] { (r, "first"), (8 + (7 - r), "second") })
                    {
                        var actual = y8[(t * yStride) + i];
                        Assert.True(Math.Abs((double)expected - actual) <= budget, $"{kernel.Name}, {blocks} blocks, row {r}, token {t} of eight, {group} group: scalar {expected:R}, kernel {actual:R}, budget {budget:R}");
                        Assert.True(BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(y4[(t * yStride) + i]),
                            $"{kernel.Name}, {blocks} blocks, row {r}, token {t}, {group} group: eight tokens give {actual:R}, four {y4[(t * yStride) + i]:R}");
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(KernelPath.AvxVnni)]
    [InlineData(KernelPath.Avx2)]
    public void The_avx512_prefill_kernels_serve_avx_vnni_or_avx2_rows_where_they_pay_or_are_forced_and_nowhere_else(KernelPath rowPath)
    {
        var wide = KernelRegistry.AllInterleaved.Single(k => k.Type == GgmlType.Q4_0 && k.Path == KernelPath.Avx512 && k.AlsoNeeds == rowPath);
        if (!wide.IsSupported)
        {
            Assert.Skip($"{wide.Name}: this host cannot run the AVX-512 and {rowPath} paths (it offers {KernelRegistry.Describe()})");
        }

        var narrow = $"Q4_0.DotInterleaved{rowPath}";
        var asked = 0;
        string? Chosen(GgmlType type, KernelPath rowPath, KernelPath? forced, bool pays) =>
            KernelRegistry.ChooseInterleaved(type, rowPath, forced, () => { asked++; return pays; })?.Name;

        Assert.Equal(wide.Name, Chosen(GgmlType.Q4_0, rowPath, null, pays: true));
        Assert.Equal(narrow, Chosen(GgmlType.Q4_0, rowPath, null, pays: false));
        Assert.Equal(2, asked);
        Assert.Equal(wide.Name, Chosen(GgmlType.Q4_0, rowPath, KernelPath.Avx512, pays: false));
        Assert.Equal(narrow, Chosen(GgmlType.Q4_0, rowPath, rowPath, pays: true));
        // Q8_0's 512-bit kernel pairs only with AVX2: against AVX-VNNI's one vpdpbusd per operand it does more work.
        Assert.Equal(rowPath == KernelPath.Avx2 ? "Q8_0.DotInterleavedAvx512Avx2" : "Q8_0.DotInterleavedAvxVnni", Chosen(GgmlType.Q8_0, rowPath, null, pays: true));
        Assert.Null(Chosen(GgmlType.F16, rowPath, null, pays: true));
        Assert.Equal(rowPath == KernelPath.Avx2 ? 3 : 2, asked); // only where an AVX-512 kernel exists and nothing forces the answer

        // The measurement behind the unforced answer: a time ratio, taken once.
        Assert.True(KernelRegistry.WideIntegerTime(rowPath) is > 0 and < 100, $"{KernelRegistry.WideIntegerTime(rowPath)}");
    }

    private static InterleavedKernel Runnable(string name)
    {
        var kernel = KernelRegistry.AllInterleaved.Single(k => k.Name == name);
        if (!kernel.IsSupported)
        {
            Assert.Skip($"{name}: this host cannot run the {kernel.Path} path (it offers {KernelRegistry.Describe()})");
        }

        return kernel;
    }
}
