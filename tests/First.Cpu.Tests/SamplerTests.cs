using First.Cpu.Sampling;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>The sampler keeps to its filters, is reproducible for a seed, and follows the softmax it draws from.</summary>
public sealed class SamplerTests
{
    private static Gen<float[]> Logits(int n) =>
        ArbMap.Default.GeneratorFor<int>().Select(seed =>
        {
            var r = new Random(seed);
            return Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 20) - 10)).ToArray();
        });

    [Fact]
    public void Greedy_takes_the_first_largest_logit()
    {
        var sampler = new Sampler(5, SamplerOptions.Greedy);
        Assert.Equal(1, sampler.Sample([0f, 3f, 1f, 3f, -2f]));
    }

    [Fact]
    public void A_sampled_token_passes_top_k_top_p_and_min_p()
    {
        var gen = from n in Gen.Choose(2, 300)
                  from logits in Logits(n)
                  from k in Gen.Choose(0, n + 2)
                  from p in Gen.Choose(1, 100)
                  from minP in Gen.Choose(0, 30)
                  from temp in Gen.Choose(1, 30)
                  from seed in ArbMap.Default.GeneratorFor<int>()
                  select (logits, k, p / 100f, minP / 100f, temp / 10f, seed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (logits, k, topP, minP, temp, seed) = c;
            var sampler = new Sampler(logits.Length, new SamplerOptions { TopK = k, TopP = topP, MinP = minP, Temperature = temp, Seed = seed });
            var token = sampler.Sample(logits);

            // The reference: candidates by logit, descending; cut by k, then p (on softmax before temperature), then min-p.
            var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).ToList();
            var kept = k > 0 ? order.Take(k).ToList() : order;
            var max = logits[kept[0]];
            var weights = kept.Select(i => Math.Exp(logits[i] - max)).ToList();
            var sum = weights.Sum();
            var rank = kept.IndexOf(token);
            Assert.True(rank >= 0, $"token {token} is outside the top {k}");
            var before = weights.Take(rank).Sum() / sum;
            Assert.True(before < topP + 1e-5, $"token {token} (rank {rank}) lies beyond top-p {topP}: {before} before it");
            Assert.True(weights[rank] >= (minP * weights[0]) - 1e-9, $"token {token} is below min-p {minP}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens()
    {
        var logits = Enumerable.Range(0, 1000).Select(i => MathF.Sin(i)).ToArray();
        int[] Run(int seed)
        {
            var s = new Sampler(logits.Length, new SamplerOptions { Seed = seed, TopK = 0, TopP = 1, MinP = 0, Temperature = 1.5f });
            return [.. Enumerable.Range(0, 50).Select(_ => s.Sample(logits))];
        }

        Assert.Equal(Run(11), Run(11));
        Assert.NotEqual(Run(11), Run(12));
    }

    [Fact]
    public void Draws_follow_the_tempered_softmax()
    {
        float[] logits = [2f, 1f, 0f, -1f];
        const float Temperature = 0.7f;
        var sampler = new Sampler(4, new SamplerOptions { Seed = 5, TopK = 0, TopP = 1, MinP = 0, Temperature = Temperature });
        var counts = new int[4];
        const int Draws = 40_000;
        for (var i = 0; i < Draws; i++)
        {
            counts[sampler.Sample(logits)]++;
        }

        var z = logits.Sum(l => Math.Exp(l / Temperature));
        for (var t = 0; t < 4; t++)
        {
            var expected = Math.Exp(logits[t] / Temperature) / z;
            var sd = Math.Sqrt(expected * (1 - expected) / Draws);
            Assert.True(Math.Abs(((double)counts[t] / Draws) - expected) < 5 * sd, $"token {t}: {counts[t] / (double)Draws} drawn, {expected} expected");
        }
    }

    [Fact]
    public void Penalties_lower_the_logits_of_recent_tokens()
    {
        float[] logits = [1f, 1.05f, 0.9f];
        var sampler = new Sampler(3, new SamplerOptions { Temperature = 0, RepeatPenalty = 1.2f });
        Assert.Equal(1, sampler.Sample(logits));
        sampler.Accept(1);
        Assert.Equal(0, sampler.Sample(logits)); // 1.05 / 1.2 < 1
        var presence = new Sampler(3, new SamplerOptions { Temperature = 0, PresencePenalty = 0.5f, FrequencyPenalty = 0.1f });
        presence.Accept(1);
        presence.Accept(0);
        presence.Accept(0);
        Assert.Equal(2, presence.Sample(logits)); // 1 − 0.5 − 0.2, 1.05 − 0.5 − 0.1, 0.9
    }
}
