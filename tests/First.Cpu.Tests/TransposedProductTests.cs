using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>The transposed product back-propagation uses equals Σ_r g[t][r] · dequantize(W[r]) summed plainly.</summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class TransposedProductTests
{
    [Theory]
    [MemberData(nameof(MatMulTests.WeightTypes), MemberType = typeof(MatMulTests))]
    public void Transposed_product_matches_the_dequantized_sum(GgmlType type)
    {
        var format = QuantFormats.Get(type);
        var gen = from rows in Gen.Choose(1, 40)
                  from blocks in Gen.Choose(1, 20)
                  from tokens in Gen.Choose(1, 6)
                  from threads in Gen.Choose(1, 3)
                  from seed in ArbMap.Default.GeneratorFor<int>()
                  select new MatMulTests.Case(rows, blocks * format.Info.BlockSize, tokens, threads, seed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (rows, cols, tokens, threads, seed) = c;
            var (weights, _) = c.Operands(format);
            var r = new Random(~seed);
            var g = Enumerable.Range(0, tokens * rows).Select(i => i % 5 == 0 ? 0f : (float)(r.NextDouble() - 0.5)).ToArray();
            var start = Enumerable.Range(0, tokens * cols).Select(_ => (float)r.NextDouble()).ToArray();
            var dequantized = new float[rows * cols];
            var x = (float[])start.Clone();
            fixed (byte* qw = weights)
            fixed (float* pd = dequantized)
            fixed (float* pg = g)
            fixed (float* px = x)
            {
                for (var row = 0; row < rows; row++)
                {
                    format.Dequantize(qw + (row * format.RowBytes(cols)), pd + (row * cols), cols);
                }

                using var pool = new WorkerPool(threads);
                MatMul.MultiplyTransposedAdd(new QuantMatrix(qw, type, rows, cols), pg, tokens, px, pool);
            }

            for (var t = 0; t < tokens; t++)
            {
                for (var col = 0; col < cols; col++)
                {
                    var expected = (double)start[(t * cols) + col];
                    for (var row = 0; row < rows; row++)
                    {
                        expected += (double)g[(t * rows) + row] * dequantized[(row * cols) + col];
                    }

                    Assert.True(Math.Abs(x[(t * cols) + col] - expected) <= 1e-4 * (1 + Math.Abs(expected)), $"t {t} col {col}: {x[(t * cols) + col]} vs {expected}");
                }
            }
        }).QuickCheckThrowOnFailure();
    }
}
