using First.Cpu.Kernels;
using First.Tests;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// Our attention over a half cache against ggml's own GGML_OP_FLASH_ATTN_EXT (llama.cpp's CPU backend, run through
/// <see cref="ReferenceGgml"/> on the same queries, keys, values and causal mask), bit for bit, on each of the three
/// paths llama.cpp takes by the shape of the call: one row at a time (fewer than 64 queries), the tiled kernel (64
/// queries or more, head sizes that are multiples of 16) and the split-KV path (one query over a view of 512 cells or
/// more, split across the threads).
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Order)]
public sealed unsafe class GgmlAttentionTests(ITestOutputHelper output)
{
    /// <summary>One call: shapes, the batch and where it starts, llama.cpp's thread count, the data as a seed.</summary>
    public sealed record Case(int HeadDim, int Group, int KvHeads, int Tokens, int Start, int Threads, float ValueScale, int Seed, int Window = 0, float Softcap = 0)
    {
        public override string ToString() => $"hd {HeadDim}, {Group} heads per KV head × {KvHeads}, tokens {Tokens} from {Start}, {Threads} threads, values ×{ValueScale}, seed {Seed}, window {Window}, soft-cap {Softcap}";
    }

    private static Gen<Case> Cases(Gen<int> headDims, Gen<int> tokens, Gen<int> starts, Gen<int> threads) =>
        from hd in headDims
        from perKv in Gen.Elements(1, 2, 4, 8)
        from kvHeads in Gen.Choose(1, 2)
        from n in tokens
        from start in starts
        from th in threads
        from valueScale in Gen.Elements(0.5f, 4f, 3000f)
        from seed in ArbMap.Default.GeneratorFor<int>()
        select new Case(hd, perKv, kvHeads, n, start, th, valueScale, seed);

    [Fact]
    public void Short_batches_match_ggml_one_row_path() =>
        Check(Cases(Gen.Elements(8, 40, 64, 128), Gen.Choose(1, 63), Gen.Elements(0, 1, 31, 64).Or(Gen.Choose(0, 200)), Gen.Choose(1, 3)), 40);

    [Fact]
    public void Batches_of_64_tokens_or_more_match_ggml_tiled_kernel() =>
        Check(Cases(Gen.Elements(16, 32, 64, 128), Gen.Choose(64, 150), Gen.Elements(0, 1, 63, 64, 65).Or(Gen.Choose(0, 300)), Gen.Choose(1, 3)), 40);

    [Fact]
    public void Long_batches_with_head_sizes_ggml_does_not_tile_match_its_one_row_path() =>
        Check(Cases(Gen.Elements(8, 40, 72), Gen.Choose(64, 100), Gen.Choose(0, 100), Gen.Constant(2)), 10);

    [Fact]
    public void One_token_over_512_cells_or_more_matches_ggml_split_path() =>
        Check(Cases(Gen.Elements(8, 64, 128), Gen.Constant(1), Gen.Elements(255, 256, 511, 512).Or(Gen.Choose(255, 1400)), Gen.Choose(1, 4)), 40);

    /// <summary>
    /// Gemma's attention on all three paths: a sliding window (masked cells before it, as llama.cpp's SWA mask) and Gemma 2's
    /// score soft-cap, with the scale 1 Gemma passes (its queries are scaled before).
    /// </summary>
    [Fact]
    public void Sliding_windows_and_soft_capping_match_ggml_on_every_path()
    {
        var shapes = Gen.OneOf(
            Gen.Choose(1, 63).Select(n => (n, Gen.Choose(0, 200))),
            Gen.Choose(64, 130).Select(n => (n, Gen.Choose(0, 200))),
            Gen.Constant(1).Select(n => (n, Gen.Choose(255, 900))));
        var gen = from shape in shapes
                  from start in shape.Item2
                  from c in Cases(Gen.Elements(16, 64, 128), Gen.Constant(shape.n), Gen.Constant(start), Gen.Choose(1, 3))
                  from window in Gen.Elements(0, 1, 7, 64, 100, 300)
                  from softcap in Gen.Elements(0f, 50f, 4f)
                  select c with { Window = window, Softcap = softcap, ValueScale = 4f };
        Check(gen, 60);
    }

    private void Check(Gen<Case> gen, int count) =>
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (expected, actual) = Run(c);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i]), $"{c}: output {i} is {actual[i]:R}, ggml's {expected[i]:R}");
            }

            output.WriteLine($"{c}: {expected.Length} outputs equal");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(count));

    private static (float[] Expected, float[] Actual) Run(Case c)
    {
        const int Context = 4096;
        var heads = c.Group * c.KvHeads;
        var hd = c.HeadDim;
        var cells = Attention.ViewCells(c.Start + c.Tokens, Context); // as llama.cpp views its cache
        var r = new Random(c.Seed);
        var keys = new ushort[c.KvHeads * cells * hd];
        var values = new ushort[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = BitConverter.HalfToUInt16Bits((Half)Normal(r, 1.5));
            values[i] = BitConverter.HalfToUInt16Bits((Half)Normal(r, c.ValueScale / 3));
        }

        var queries = Enumerable.Range(0, c.Tokens * heads * hd).Select(_ => (float)Normal(r, 1.5)).ToArray();
        var mask = new ushort[c.Tokens * cells];
        for (var t = 0; t < c.Tokens; t++)
        {
            for (var p = 0; p < cells; p++)
            {
                var pos = c.Start + t;
                var hidden = p > pos || (c.Window > 0 && pos - p >= c.Window); // llama_hparams::is_masked_swa
                mask[(t * cells) + p] = hidden ? (ushort)0xFC00 : (ushort)0; // −∞ or 0
            }
        }

        var scale = c.Softcap != 0 || c.Window != 0 ? 1f : 1 / MathF.Sqrt(hd);
        var expected = ReferenceGgml.FlashAttention(queries, keys, values, mask, c.Tokens, heads, c.KvHeads, cells, hd, hd, scale, c.Threads, c.Softcap);
        var actual = AttentionTests.RunHalf(keys, values, queries, heads, c.KvHeads, hd, c.Tokens, c.Start, cells, scale, c.Threads,
            Attention.TiledTokens(c.Tokens, Context), cells, c.Threads, c.Window, c.Softcap);
        return (expected, actual);
    }

    private static double Normal(Random r, double sigma) =>
        sigma * Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}
