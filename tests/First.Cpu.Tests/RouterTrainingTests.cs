using First.Cpu.Model;
using First.Cpu.Routing;
using First.Cpu.Routing.Training;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Router training: its forward pass is the engine's, it lowers the loss, resumes exactly, and refuses bad input.</summary>
public sealed class RouterTrainingTests
{
    internal const string Story =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the park. " +
        "She ran to the ball and kicked it very high. The ball flew over the tree and landed in the pond. Lily was sad, but her friend Tom came to help. " +
        "Tom found a long stick and pulled the ball out of the water. Lily smiled and said thank you. They played together until the sun went down. " +
        "The next day, Tom and Lily went to the beach with their mom. They built a big sand castle and looked for shells. A little crab came out of the sand. " +
        "Tom laughed and Lily clapped her hands. Mom said it was time to go home, so they said goodbye to the crab and walked back to the car.";

    internal static RouterTrainingOptions Small => new()
    {
        PromptLength = 16,
        ContinuationLength = 16,
        Steps = 6,
        BatchSize = 2,
        Hidden = 8,
        CheckpointEvery = 2,
        Threads = 2,
        Lambda = 0.05f,
        WarmupSteps = 2,
    };

    [Theory]
    [InlineData("stories260K.gguf")]
    [InlineData("stories260K-Q8_0.gguf")]
    public void With_every_gate_open_the_continuation_logits_are_the_engines(string file)
    {
        using var model = LanguageModel.Open(TestPaths.Model(file));
        var tokens = model.Tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside.");
        var p = 7;
        var expected = new float[tokens.Length * model.Config.VocabularySize];
        using (var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64, KvCacheType = KvCacheType.F32 }))
        {
            session.EvaluateAll(tokens, expected);
        }

        using var pass = new GatedTransformer(model.Weights, p, tokens.Length - p, threads: 2);
        pass.Prompt(tokens.AsSpan(0, p));
        var ones = Enumerable.Repeat(1f, model.Config.LayerCount).ToArray();
        pass.Continue(tokens.AsSpan(p), ones, null, keepTape: false);
        var actual = pass.ContinuationLogits.ToArray();
        var v = model.Config.VocabularySize;
        var worst = 0f;
        for (var i = 0; i < actual.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[(p * v) + i]));
        }

        // The engine's F32 cache path uses the same kernels; only the attention's summation order differs. With
        // quantized weights the activations are rounded to int8 before every product, and a last-bit difference
        // can move one of them by a step (seen with DOTNET_EnableHWIntrinsic=0: 0.18 on logits of about ±10),
        // so there the top token must agree and the budget is that of ModelParityTests' quantized files.
        var quantized = file != "stories260K.gguf";
        Assert.True(worst < (quantized ? 0.5f : 1e-3f), $"largest logit difference {worst}");
        for (var t = 0; t < actual.Length / v; t++)
        {
            Assert.Equal(Sampling.Sampler.ArgMax(expected.AsSpan((p + t) * v, v)), Sampling.Sampler.ArgMax(actual.AsSpan(t * v, v)));
        }
    }

    /// <summary>The soft-gate objective (budget 0) and the skip-budget objective (expected KL of the skipped layer) both go down.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Training_lowers_the_loss_it_optimises(int budget)
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var options = budget == 0
            ? Small with { Steps = 30, Lambda = 0.3f, LearningRate = 1e-2f }
            : Small with { Steps = 30, SkipBudget = budget, BudgetImitation = 0, LearningRate = 2e-2f };
        var examples = TrainingData.FromText(model.Tokenizer, Story, options.PromptLength, options.ContinuationLength);
        using var trainer = new RouterTrainer(model, options, examples);
        var before = MeanLoss(model, options, examples, trainer.Routers);
        trainer.Train(cancellation: TestContext.Current.CancellationToken);
        var after = MeanLoss(model, options, examples, trainer.Routers);
        Assert.True(after < before * 0.97, $"loss {before:F4} → {after:F4}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void A_run_killed_after_a_checkpoint_resumes_to_the_same_routers(int budget)
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var options = Small with { SkipBudget = budget };
        var examples = TrainingData.FromText(model.Tokenizer, Story, options.PromptLength, options.ContinuationLength);
        var checkpoint = Path.Combine(Path.GetTempPath(), $"first-ckpt-{Environment.ProcessId}-{Guid.NewGuid():N}.ckpt");
        try
        {
            var (uninterrupted, resumed) = KillAndResume(() => new RouterTrainer(model, options, examples), checkpoint);
            foreach (var l in uninterrupted.RoutedLayers)
            {
                var a = uninterrupted.Routers[l]!.Tensors;
                var b = resumed.Routers[l]!.Tensors;
                for (var k = 0; k < a.Count; k++)
                {
                    Assert.Equal(a[k], b[k]);
                }
            }

            // The same checkpoint under other settings is refused, naming the setting.
            using var other = new RouterTrainer(model, options with { Lambda = 0.5f }, examples);
            var e = Assert.Throws<TrainingCheckpointException>(() => other.Train(checkpoint, cancellation: TestContext.Current.CancellationToken));
            Assert.Contains("lambda", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(checkpoint);
        }
    }

    /// <summary>
    /// Trains one run to the end, then another that is stopped during step 4 (the checkpoint of step 2 is on disk, step 3's
    /// work is lost), then a third from the checkpoint, which must resume at step 3. Returns the first and the third result.
    /// </summary>
    internal static (RouterSet Uninterrupted, RouterSet Resumed) KillAndResume(Func<RouterTrainer> make, string checkpoint)
    {
        RouterSet uninterrupted;
        using (var trainer = make())
        {
            uninterrupted = trainer.Train(cancellation: TestContext.Current.CancellationToken);
        }

        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        using (var trainer = make())
        {
            Assert.Throws<OperationCanceledException>(() => trainer.Train(checkpoint, p =>
            {
                if (p.Step == 3)
                {
                    cancel.Cancel();
                }
            }, cancel.Token));
        }

        int? resumedAt = null;
        RouterSet resumed;
        using (var trainer = make())
        {
            resumed = trainer.Train(checkpoint, p => resumedAt ??= p.Step, TestContext.Current.CancellationToken);
        }

        Assert.Equal(3, resumedAt);
        return (uninterrupted, resumed);
    }

    [Fact]
    public void Bad_training_input_is_named()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var tiny = Assert.Throws<TrainingDataException>(() => TrainingData.FromText(model.Tokenizer, "Hi.", 64, 64, "tiny.txt"));
        Assert.Contains("tiny.txt", tiny.Message, StringComparison.Ordinal);
        Assert.Throws<TrainingDataException>(() => TrainingData.FromText(model.Tokenizer, "", 64, 64));
        var json = Assert.Throws<TrainingDataException>(() => TrainingData.FromJsonl(model.Tokenizer, ["{\"prompt\": \"a\", \"completion\": \"b c d e\"}", "{oops"], 16, 16, "d.jsonl"));
        Assert.Contains("line 2", json.Message, StringComparison.Ordinal);
        var examples = TrainingData.FromJsonl(model.Tokenizer, ["{\"prompt\": \"Once upon a time\", \"completion\": \" there was a dog\"}"], 16, 16);
        Assert.Equal(model.Tokenizer.Vocabulary.Bos, examples[0].Prompt[0]);
        Assert.Throws<ArgumentException>(() => (Small with { Tau = 1f }).Validate(5));
        Assert.Throws<ArgumentException>(() => (Small with { RoutedLayers = [7] }).Validate(5));
        Assert.Contains("skip budget", Assert.Throws<ArgumentException>(() => (Small with { SkipBudget = 4 }).Validate(5)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => (Small with { SkipBudget = 1, Gates = GateMode.Token }).Validate(5));
    }

    [Fact]
    public void Self_generated_text_is_reproducible_and_varied()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K.gguf"));
        var a = TrainingData.SelfGenerate(model, 4, 40, seed: 7, threads: 2);
        var b = TrainingData.SelfGenerate(model, 4, 40, seed: 7, threads: 2);
        Assert.Equal(a, b);
        Assert.True(a.Select(t => string.Join(',', t.Take(6))).Distinct().Count() > 1, "every text opens the same way");
        Assert.All(a, t => Assert.Equal(model.Tokenizer.Vocabulary.Bos, t[0]));
    }

    private static double MeanLoss(LanguageModel model, RouterTrainingOptions o, List<TrainingExample> examples, RouterSet routers)
    {
        using var pass = new GatedTransformer(model.Weights, o.PromptLength, o.ContinuationLength, 2, o.Hidden);
        var objective = new RouterObjective(pass, o.Loss, o.Gates, o.Lambda, o.Tau);
        return examples.Average(e => o.SkipBudget > 0
            ? objective.EvaluateBudget(e, routers, null, o.SkipBudget, o.BudgetSamples, o.BudgetImitation, new Random(0)).Loss
            : objective.Evaluate(e, routers, null).Loss);
    }
}
