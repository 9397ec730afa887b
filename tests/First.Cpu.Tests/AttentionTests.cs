using First.Cpu.Kernels;
using First.Cpu.Quants;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// Attention over a half cache against a position-by-position scalar reference of ggml's CPU flash attention
/// (flash_attn_ext_f16): the query rounded to half, scores summed in ggml_vec_dot_f16's order (F16.DotScalar on
/// the half bits), online softmax, the value accumulator rounded to half after every update. The results must
/// be equal bit for bit, on whichever vector path the host runs (the suite runs again with AVX-512, AVX2 and
/// all intrinsics switched off).
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class AttentionTests
{
    /// <summary>One case: shapes, how many tokens and where the first sits, and the data as seeds.</summary>
    public sealed record Case(int HeadDim, int Group, int KvHeads, int Tokens, int Start, float ValueScale, int Seed)
    {
        public override string ToString() => $"hd {HeadDim}, {Group} heads per KV head × {KvHeads}, tokens {Tokens} from {Start}, values ×{ValueScale}, seed {Seed}";
    }

    [Fact]
    public void Half_cache_attention_equals_the_scalar_reference_bit_for_bit()
    {
        var gen = from hd in Gen.Elements(8, 32, 48, 64, 96, 128)
                  from perKv in Gen.Elements(1, 2, 3, 8)
                  from kvHeads in Gen.Choose(1, 2)
                  from tokens in Gen.Choose(1, 3)
                  from start in Gen.Elements(0, 0, 1, 31, 32, 33).Or(Gen.Choose(0, 70))
                  from valueScale in Gen.Elements(0.5f, 4f, 3000f)
                  from seed in ArbMap.Default.GeneratorFor<int>()
                  select new Case(hd, perKv, kvHeads, tokens, start, valueScale, seed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (expected, actual) = Run(c);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(expected[i].Equals(actual[i]), $"{c}: output {i} is {actual[i]:R}, the reference {expected[i]:R}");
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(150));
    }

    [Fact]
    public void Every_half_converts_to_its_float_value_at_every_tail_length()
    {
        var all = Enumerable.Range(0, 65536).Select(h => (ushort)h).ToArray();
        var y = new float[all.Length];
        fixed (ushort* ph = all)
        fixed (float* py = y)
        {
            Fp16.ToFloats(ph, py, all.Length);
            for (var n = 0; n <= 17; n++)
            {
                var tail = new float[n];
                fixed (float* pt = tail)
                {
                    Fp16.ToFloats(ph + 0x7BF8, pt, n); // around the largest finite half and infinity
                }

                for (var i = 0; i < n; i++)
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)(0x7BF8 + i))), BitConverter.SingleToUInt32Bits(tail[i]));
                }
            }
        }

        for (var h = 0; h < all.Length; h++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            Assert.True(expected.Equals(y[h]), $"half {h:X4}: {y[h]:R}, expected {expected:R}");
            var one = Fp16.ToFloat((ushort)h); // the scalar conversion the kernels inline, NaNs and infinities too
            Assert.True(expected.Equals(one) && float.IsNegative(expected) == float.IsNegative(one), $"half {h:X4}: ToFloat gives {one:R}, expected {expected:R}");
            if (!float.IsNaN(expected))
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(y[h]));
            }
        }
    }

    private static (float[] Expected, float[] Actual) Run(Case c)
    {
        var heads = c.Group * c.KvHeads;
        var hd = c.HeadDim;
        var capacity = c.Start + c.Tokens;
        var r = new Random(c.Seed);
        var keys = new ushort[c.KvHeads * capacity * hd];
        var values = new ushort[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = BitConverter.HalfToUInt16Bits((Half)(((r.NextDouble() * 2) - 1) * 3));
            values[i] = BitConverter.HalfToUInt16Bits((Half)(((r.NextDouble() * 2) - 1) * c.ValueScale));
        }

        var queries = Enumerable.Range(0, c.Tokens * heads * hd).Select(_ => (float)(((r.NextDouble() * 2) - 1) * 2)).ToArray();
        var scale = 1 / MathF.Sqrt(hd);
        var expected = Reference(c, keys, values, queries, capacity, scale);
        var actual = RunHalf(keys, values, queries, heads, c.KvHeads, hd, c.Tokens, c.Start, capacity, scale);
        return (expected, actual);
    }

    /// <summary>
    /// The engine's attention over a half cache of <paramref name="capacity"/> cells (<paramref name="keys"/>,
    /// <paramref name="values"/>) for <paramref name="tokens"/> queries from <paramref name="start"/>, on a pool of
    /// <paramref name="threads"/>; <paramref name="tiledTokens"/>, <paramref name="viewCells"/> and
    /// <paramref name="kvSplits"/> as <see cref="AttentionJob"/> takes them (zero: neither tiled nor split).
    /// The queries are not changed (the job rounds a copy).
    /// </summary>
    internal static float[] RunHalf(ushort[] keys, ushort[] values, float[] queries, int heads, int kvHeads, int hd, int tokens, int start,
        int capacity, float scale, int threads = 1, int tiledTokens = 0, int viewCells = 0, int kvSplits = 0, int window = 0, float softcap = 0)
    {
        var actual = new float[queries.Length];
        var scratch = new float[threads * Attention.ScratchFloats(capacity, hd)];
        var partials = kvSplits > 0 ? new float[Attention.PartialFloats(heads, kvSplits, hd)] : null;
        var q = (float[])queries.Clone();
        fixed (ushort* pk = keys)
        fixed (ushort* pv = values)
        fixed (float* pq = q)
        fixed (float* po = actual)
        fixed (float* ps = scratch)
        fixed (float* pp = partials)
        {
            var job = new AttentionJob
            {
                Queries = pq, Output = po, Keys = pk, Values = pv, Half = true, Capacity = capacity, Heads = heads, KvHeads = kvHeads,
                HeadDimension = hd, Tokens = tokens, StartPosition = start, Scale = scale, Scratch = ps,
                TiledTokens = tiledTokens, ViewCells = viewCells, KvSplits = kvSplits, Partials = pp, Window = window, Softcap = softcap,
            };
            using var pool = new WorkerPool(threads);
            Attention.Run(ref job, pool);
        }

        return actual;
    }

    /// <summary>Position by position, head by head, one lane at a time.</summary>
    private static float[] Reference(Case c, ushort[] keys, ushort[] values, float[] queries, int capacity, float scale)
    {
        var heads = c.Group * c.KvHeads;
        var hd = c.HeadDim;
        var output = new float[queries.Length];
        var qh = new ushort[hd];
        var y = new float[hd];
        for (var t = 0; t < c.Tokens; t++)
        {
            for (var h = 0; h < heads; h++)
            {
                var g = h / c.Group;
                for (var i = 0; i < hd; i++)
                {
                    qh[i] = Fp16.FromFloat(queries[(((t * heads) + h) * hd) + i]);
                }

                Array.Clear(y);
                float m = float.NegativeInfinity, sum = 0;
                for (var p = 0; p <= c.Start + t; p++)
                {
                    var at = ((g * capacity) + p) * hd;
                    float s;
                    fixed (ushort* pk = &keys[at])
                    fixed (ushort* pq = qh)
                    {
                        s = F16.DotScalar(pk, pq, hd) * scale;
                    }

                    float ms = 1, vs = 1;
                    if (s > m)
                    {
                        ms = Attention.ExpOrZero(m - s);
                        m = s;
                    }
                    else
                    {
                        vs = Attention.ExpOrZero(s - m);
                    }

                    for (var i = 0; i < hd; i++)
                    {
                        var v = ms != 1 ? HalfAccumulator.RoundScalar(y[i] * ms) : y[i];
                        y[i] = HalfAccumulator.RoundScalar(MathF.FusedMultiplyAdd(Fp16.ToFloat(values[at + i]), vs, v));
                    }

                    sum = MathF.FusedMultiplyAdd(sum, ms, vs);
                }

                var inverse = sum == 0 ? 0 : 1 / sum;
                for (var i = 0; i < hd; i++)
                {
                    output[(((t * heads) + h) * hd) + i] = y[i] * inverse;
                }
            }
        }

        return output;
    }
}
