using First.Cpu.Model;
using First.Cpu.Routing;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>FiRST inference: router scores at prefill become the decode plan; router files belong to one model.</summary>
public sealed class RoutingTests
{
    /// <summary>Routers with zero weights score sigmoid(b2) whatever the input.</summary>
    private static RouterSet Constant(LanguageModel model, int hidden, params (int Layer, float B2)[] biases)
    {
        var set = new RouterSet(model.Config.LayerCount, model.Config.EmbeddingLength, hidden, RouterSet.DefaultRoutedLayers(model.Config.LayerCount));
        foreach (var l in set.RoutedLayers)
        {
            set.Routers[l]!.B2 = 5f;
        }

        foreach (var (layer, b2) in biases)
        {
            set.Routers[layer]!.B2 = b2;
        }

        return set;
    }

    [Fact]
    public void Layers_whose_mean_score_is_below_tau_are_skipped_at_decode()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64 });
        session.Routers = Constant(model, 8, (2, -3f), (3, 0.2f));
        session.Prefill(model.Tokenizer.Encode("Once upon a time"));
        Assert.Equal([2], session.DecodePlan.Skipped);
        Assert.True(session.PrefillPlan.SkippedCount == 0);
        Assert.Equal(1f / (1f + MathF.Exp(3f)), session.RouterMeans[2], 5);
        Assert.Equal(1f / (1f + MathF.Exp(-0.2f)), session.RouterMeans[3], 5);
        Assert.True(float.IsNaN(session.RouterMeans[0]) && float.IsNaN(session.RouterMeans[4]));
        Assert.True(session.RouterSeconds > 0);
    }

    [Fact]
    public void Budgets_cap_and_force_the_skipped_count_by_lowest_mean()
    {
        var set = new RouterSet(6, 8, 0, [1, 2, 3, 4]);
        float[] means = [float.NaN, 0.1f, 0.6f, 0.3f, 0.9f, float.NaN];
        Assert.Equal([1, 3], RoutingDecision.Decide(set, means, new RoutingOptions()).Skipped);
        Assert.Equal([1], RoutingDecision.Decide(set, means, new RoutingOptions { MaxSkip = 1 }).Skipped);
        Assert.Equal([1, 2, 3], RoutingDecision.Decide(set, means, new RoutingOptions { MinSkip = 3 }).Skipped);
        Assert.Equal([1, 3], RoutingDecision.Decide(set, means, new RoutingOptions { Tau = 0.35f }).Skipped);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoutingOptions { Tau = 1f }.Validate(set));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoutingOptions { Tau = 0f }.Validate(set));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoutingOptions { MaxSkip = 5 }.Validate(set));
    }

    [Fact]
    public void Skip_in_prefill_applies_the_decisions_to_the_prompt_and_matches_a_forced_plan()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K-Q8_0.gguf"));
        var prompt = model.Tokenizer.Encode("Lily and Tom went to the park");
        using var routed = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64 });
        routed.Routers = Constant(model, 0, (1, -4f), (3, -4f));
        routed.RoutingOptions = new RoutingOptions { SkipInPrefill = true };
        var a = routed.Prefill(prompt).ToArray();
        Assert.Equal([1, 3], routed.PrefillPlan.Skipped);
        Assert.Equal([1, 3], routed.DecodePlan.Skipped);

        using var forced = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64 });
        forced.PrefillPlan = forced.DecodePlan = LayerPlan.Skipping(5, [1, 3]);
        Assert.Equal(forced.Prefill(prompt).ToArray(), a);
    }

    [Fact]
    public void A_router_file_round_trips_and_is_refused_by_another_model()
    {
        var path = Path.Combine(Path.GetTempPath(), $"first-routers-{Environment.ProcessId}.routers.gguf");
        try
        {
            using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
            var set = Constant(model, 4, (2, -1.5f));
            var random = new Random(3);
            foreach (var l in set.RoutedLayers)
            {
                var r = set.Routers[l]!;
                for (var i = 0; i < r.W1.Length; i++)
                {
                    r.W1[i] = (float)random.NextDouble() - 0.5f;
                }

                r.B1[0] = 0.25f;
                r.W2[1] = -0.75f;
            }

            RouterFile.Write(path, set, model, 0.4f, new Dictionary<string, string> { ["steps"] = "0" });
            var (read, tau) = RouterFile.Read(path, model);
            Assert.Equal(0.4f, tau);
            Assert.Equal(set.RoutedLayers, read.RoutedLayers);
            foreach (var l in set.RoutedLayers)
            {
                Assert.Equal(set.Routers[l]!.W1, read.Routers[l]!.W1);
                Assert.Equal(set.Routers[l]!.B1, read.Routers[l]!.B1);
                Assert.Equal(set.Routers[l]!.W2, read.Routers[l]!.W2);
                Assert.Equal(set.Routers[l]!.B2, read.Routers[l]!.B2);
            }

            // Another quantization of the same model (llama.cpp's Q4_0 of the same weights) takes the routers, with one line.
            using (var quantized = LanguageModel.Open(TestPaths.Model("stories260K-Q4_0.gguf")))
            {
                var notices = new StringWriter();
                var (again, _) = RouterFile.Read(path, quantized, notices);
                Assert.Equal(set.RoutedLayers, again.RoutedLayers);
                Assert.Equal(set.Routers[2]!.W1, again.Routers[2]!.W1);
                Assert.Single(notices.ToString().TrimEnd().Split('\n'));
                Assert.Contains("another quantization", notices.ToString(), StringComparison.Ordinal);
                var silent = new StringWriter();
                RouterFile.Read(path, model, silent);
                Assert.Empty(silent.ToString());
            }

            // Another model with the same architecture and sizes: one more tensor in its table.
            var otherPath = Path.Combine(Path.GetTempPath(), $"first-other-{Guid.NewGuid():N}.gguf");
            try
            {
                TestModels.WithExtraTensor(TestPaths.Model("stories260K.gguf"), otherPath);
                using var other = LanguageModel.Open(otherPath);
                var e = Assert.Throws<RouterFileException>(() => RouterFile.Read(path, other));
                Assert.Contains("fingerprint", e.Message, StringComparison.Ordinal);
            }
            finally
            {
                File.Delete(otherPath);
            }

            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
            Assert.Throws<GgufFormatException>(() => RouterFile.Read(path, model));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
