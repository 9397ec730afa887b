using First.Cpu.Routing.Evaluation;

namespace First.Cpu.Tests;

/// <summary>The baselines' layer choices of <see cref="SkipEvaluation"/>.</summary>
public sealed class SkipEvaluationTests
{
    [Fact]
    public void Random_layers_are_distinct_routed_layers_and_every_set_is_about_equally_likely()
    {
        int[] routed = [1, 2, 3, 4];
        foreach (var k in new[] { 1, 2, 3 })
        {
            var counts = new Dictionary<string, int>();
            const int Draws = 3000;
            for (var example = 0; example < Draws / 3; example++)
            {
                for (var seed = 0; seed < 3; seed++)
                {
                    var pick = SkipEvaluation.RandomLayers(routed, k, example, seed);
                    Assert.Equal(k, pick.Distinct().Count());
                    Assert.All(pick, l => Assert.Contains(l, routed));
                    var key = string.Join(',', pick.Order());
                    counts[key] = counts.GetValueOrDefault(key) + 1;
                }
            }

            // C(4, k) sets, each expected Draws / C times; allow ±25 % (over 5 standard deviations at these counts).
            var sets = k == 2 ? 6 : 4;
            Assert.Equal(sets, counts.Count);
            Assert.All(counts.Values, n => Assert.InRange(n, 0.75 * Draws / sets, 1.25 * Draws / sets));
        }
    }

    [Fact]
    public void Balanced_middle_spreads_the_skips_over_the_routed_layers()
    {
        int[] routed = [1, 2, 3, 4, 5, 6, 7, 8];
        Assert.Equal([5], SkipEvaluation.BalancedMiddle(routed, 1));
        Assert.Equal([3, 7], SkipEvaluation.BalancedMiddle(routed, 2));
        Assert.Equal([2, 4, 6, 8], SkipEvaluation.BalancedMiddle(routed, 4)); // the upper middle of each pair
        Assert.Equal(routed, SkipEvaluation.BalancedMiddle(routed, 8));
    }

    [Fact]
    public void Distinct_counts_the_pairs_of_prompts_whose_sets_differ()
    {
        Assert.Equal(0, SkipEvaluation.Distinct([[1], [1], [1]]));
        Assert.Equal(2.0 / 3, SkipEvaluation.Distinct([[1, 2], [1, 2], [3]]), 6);
        Assert.Equal(0, SkipEvaluation.Distinct([[2]]));
    }
}
