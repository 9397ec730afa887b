using First.Cpu.Model;
using First.Cpu.Routing;
using First.Cpu.Routing.Training;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// LoRA adapters (FiRST's second stage): inference applies them exactly as training does, only in passes that skip,
/// router files carry them, training lowers the loss and resumes to the same adapters.
/// </summary>
public sealed class AdapterTests
{
    private const string Story = RouterTrainingTests.Story;

    internal static AdapterSet RandomAdapters(ModelConfig c, int rank, int seed, float size = 0.3f)
    {
        var adapters = new AdapterSet(c.LayerCount, c.EmbeddingLength, c.QueryLength, c.FeedForwardLength, rank, alpha: 2 * rank);
        var random = new Random(seed);
        foreach (var t in adapters.Tensors)
        {
            for (var i = 0; i < t.Length; i++)
            {
                t[i] = (float)(random.NextDouble() - 0.5) * size;
            }
        }

        return adapters;
    }

    /// <summary>
    /// The engine's forward pass with adapters and a skipped layer gives the logits of the training pass with the same gates
    /// and adapters; a dense plan ignores the adapters; and the adapters do change the skipping pass.
    /// </summary>
    [Fact]
    public void Inference_applies_adapters_as_training_does_and_only_when_skipping()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var c = model.Config;
        var v = c.VocabularySize;
        var tokens = model.Tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside.");
        var p = 7;
        var n = tokens.Length - p;
        var adapters = RandomAdapters(c, rank: 4, seed: 5);
        var plan = LayerPlan.Skipping(c.LayerCount, [2]);

        float[] Engine(AdapterSet? a, LayerPlan continuationPlan)
        {
            using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64, KvCacheType = KvCacheType.F32 });
            session.Adapters = a;
            session.PrefillPlan = LayerPlan.Dense(c.LayerCount);
            session.Prefill(tokens.AsSpan(0, p));
            session.PrefillPlan = session.DecodePlan = continuationPlan;
            var logits = new float[n * v];
            session.EvaluateAll(tokens.AsSpan(p), logits);
            return logits;
        }

        var engine = Engine(adapters, plan);
        using var pass = new GatedTransformer(model.Weights, p, n, threads: 2, routerHidden: 0, adapterRank: 4) { Adapters = adapters };
        pass.Prompt(tokens.AsSpan(0, p));
        var gates = Enumerable.Range(0, c.LayerCount).Select(l => plan.Runs(l) ? 1f : 0f).ToArray();
        pass.Continue(tokens.AsSpan(p), gates, null, keepTape: false);
        var training = pass.ContinuationLogits.ToArray();
        var worst = engine.Zip(training).Max(x => Math.Abs(x.First - x.Second));
        Assert.True(worst < 1e-3f, $"largest logit difference {worst}");

        var plain = Engine(null, plan);
        Assert.True(plain.Zip(engine).Max(x => Math.Abs(x.First - x.Second)) > 0.05f, "the adapters changed nothing");
        Assert.Equal(Engine(null, LayerPlan.Dense(c.LayerCount)), Engine(adapters, LayerPlan.Dense(c.LayerCount)));
    }

    [Fact]
    public void Router_files_carry_adapters_and_refuse_a_wrong_sized_one()
    {
        var path = Path.Combine(Path.GetTempPath(), $"first-adapters-{Environment.ProcessId}-{Guid.NewGuid():N}.routers.gguf");
        try
        {
            using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
            var c = model.Config;
            var set = new RouterSet(c.LayerCount, c.EmbeddingLength, 4, RouterSet.DefaultRoutedLayers(c.LayerCount)) { Adapters = RandomAdapters(c, rank: 3, seed: 9) };
            RouterFile.Write(path, set, model, 0.5f);
            var (read, _) = RouterFile.Read(path, model);
            Assert.NotNull(read.Adapters);
            Assert.Equal(3, read.Adapters.Rank);
            Assert.Equal(set.Adapters.Alpha, read.Adapters.Alpha);
            Assert.Equal(set.Adapters.Tensors.Count, read.Adapters.Tensors.Count);
            for (var k = 0; k < set.Adapters.Tensors.Count; k++)
            {
                Assert.Equal(set.Adapters.Tensors[k], read.Adapters.Tensors[k]);
            }

            // A file whose adapters were cut for another width: the reader names the tensor.
            var narrow = new RouterSet(c.LayerCount, c.EmbeddingLength, 4, set.RoutedLayers)
            {
                Adapters = new AdapterSet(c.LayerCount, c.EmbeddingLength, c.QueryLength, c.FeedForwardLength + 1, 3, 6),
            };
            RouterFile.Write(path, narrow, model, 0.5f);
            var e = Assert.Throws<GgufFormatException>(() => RouterFile.Read(path, model));
            Assert.Contains("lora.0.ffn_down.a", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Router training's small settings, for adapters of rank 4 serving a skip budget of 1.</summary>
    private static RouterTrainingOptions Small => RouterTrainingTests.Small with { SkipBudget = 1, AdapterRank = 4 };

    /// <summary>Routers with a fixed preference: layer 2 has the lowest mean, so budget 1 skips it for every prompt.</summary>
    private static RouterSet FixedRouters(ModelConfig c)
    {
        var set = new RouterSet(c.LayerCount, c.EmbeddingLength, 8, RouterSet.DefaultRoutedLayers(c.LayerCount));
        foreach (var l in set.RoutedLayers)
        {
            set.Routers[l]!.B2 = l == 2 ? -2f : 2f;
        }

        return set;
    }

    [Fact]
    public void Adapter_training_lowers_the_skipping_loss()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var options = Small with { Steps = 30, LearningRate = 1e-2f };
        var examples = TrainingData.FromText(model.Tokenizer, Story, options.PromptLength, options.ContinuationLength);
        var routers = FixedRouters(model.Config);
        using var trainer = new RouterTrainer(model, options, examples, routers);
        var before = MeanLoss(model, options, examples, routers, trainer.Adapters!);
        trainer.Train(cancellation: TestContext.Current.CancellationToken);
        var after = MeanLoss(model, options, examples, routers, trainer.Adapters!);
        Assert.True(after < before * 0.8, $"KL with layer 2 skipped {before:F4} → {after:F4}");
        Assert.Same(trainer.Adapters, routers.Adapters);
    }

    [Fact]
    public void A_killed_adapter_run_resumes_to_the_same_adapters()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var options = Small;
        var examples = TrainingData.FromText(model.Tokenizer, Story, options.PromptLength, options.ContinuationLength);
        var checkpoint = Path.Combine(Path.GetTempPath(), $"first-ckpt-{Environment.ProcessId}-{Guid.NewGuid():N}.ckpt");
        try
        {
            var (a, b) = RouterTrainingTests.KillAndResume(() => new RouterTrainer(model, options, examples, FixedRouters(model.Config)), checkpoint);
            var uninterrupted = a.Adapters!;
            var resumed = b.Adapters!;
            for (var k = 0; k < uninterrupted.Tensors.Count; k++)
            {
                Assert.Equal(uninterrupted.Tensors[k], resumed.Tensors[k]);
            }

            // Adapters are trained for one set of routers: a checkpoint made for others is refused.
            var otherRouters = FixedRouters(model.Config);
            otherRouters.Routers[1]!.B2 = 1.5f;
            using var other = new RouterTrainer(model, options, examples, otherRouters);
            var e = Assert.Throws<TrainingCheckpointException>(() => other.Train(checkpoint, cancellation: TestContext.Current.CancellationToken));
            Assert.Contains("routers", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(checkpoint);
        }
    }

    [Fact]
    public void Adapters_need_routers_and_fit_one_shape()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var c = model.Config;
        var examples = TrainingData.FromText(model.Tokenizer, Story, 16, 16);
        Assert.Throws<ArgumentException>(() => new RouterTrainer(model, Small, examples));
        Assert.Throws<ArgumentException>(() => new RouterTrainer(model, Small with { AdapterRank = 0 }, examples, FixedRouters(c)));
        Assert.Throws<ArgumentException>(() => (Small with { SampledGates = true }).Validate(c.LayerCount));
        using var session = model.CreateSession(new SessionOptions { Threads = 1, ContextLength = 32 });
        Assert.Throws<ArgumentException>(() => session.Adapters = new AdapterSet(c.LayerCount, c.EmbeddingLength + 1, c.QueryLength, c.FeedForwardLength, 2, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdapterSet(c.LayerCount, c.EmbeddingLength, c.QueryLength, c.FeedForwardLength, 0, 4));
    }

    private static double MeanLoss(LanguageModel model, RouterTrainingOptions o, List<TrainingExample> examples, RouterSet routers, AdapterSet adapters)
    {
        using var pass = new GatedTransformer(model.Weights, o.PromptLength, o.ContinuationLength, 2, o.Hidden, o.AdapterRank);
        var objective = new RouterObjective(pass, o.Loss, o.Gates, o.Lambda, o.Tau);
        var decision = new RoutingOptions { MinSkip = o.SkipBudget, MaxSkip = o.SkipBudget };
        return examples.Average(e => objective.EvaluateAdapters(e, routers, adapters, null, decision).Loss);
    }
}
