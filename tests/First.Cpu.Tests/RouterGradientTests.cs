using FsCheck;
using FsCheck.Fluent;
using First.Cpu.Model;
using First.Cpu.Routing;
using First.Cpu.Routing.Training;

namespace First.Cpu.Tests;

/// <summary>
/// The backward pass of router training: the analytic gradient of every router parameter equals central finite
/// differences of the loss, on small random F32 models (with quantized weights the forward quantizes its
/// activations, a step function finite differences cannot follow).
/// </summary>
public sealed class RouterGradientTests
{
    public static TheoryData<string, QualityLoss, GateMode, int> Cases => new()
    {
        { "llama", QualityLoss.Kl, GateMode.Sequence, 8 },
        { "llama", QualityLoss.CrossEntropy, GateMode.Sequence, 0 },
        { "qwen2", QualityLoss.Kl, GateMode.Token, 8 },
        { "qwen2", QualityLoss.CrossEntropy, GateMode.Token, 0 },
        { "qwen3", QualityLoss.Kl, GateMode.Sequence, 8 },
        { "qwen3", QualityLoss.CrossEntropy, GateMode.Token, 0 },
        { "phi3", QualityLoss.Kl, GateMode.Token, 8 },
        { "gemma3", QualityLoss.Kl, GateMode.Sequence, 8 },
        { "gemma2", QualityLoss.CrossEntropy, GateMode.Token, 0 },
        { "gemma2", QualityLoss.Kl, GateMode.Sequence, 8 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Analytic_gradients_match_finite_differences(string architecture, QualityLoss loss, GateMode mode, int hidden)
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(1, 1_000_000)), seed => Verify(seed, architecture, loss, mode, hidden));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3), property);
    }

    public static TheoryData<int, int, float> BudgetCases => new()
    {
        { 1, 8, 0.5f },
        { 2, 8, 0f },
        { 2, 0, 1f },
    };

    /// <summary>The skip-budget objective with every layer set evaluated: expected KL over the Plackett–Luce choice plus the imitation term.</summary>
    [Theory]
    [MemberData(nameof(BudgetCases))]
    public void Budget_gradients_match_finite_differences(int budget, int hidden, float imitation)
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(1, 1_000_000)), seed => Verify(seed, "llama", QualityLoss.Kl, GateMode.Sequence, hidden,
            (objective, example, routers, gradient) => objective.EvaluateBudget(example, routers, gradient, budget, samples: 1, imitation, new Random(0)).Loss));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3), property);
    }

    /// <summary>
    /// When there are too many layer sets to try, the sampled estimate of the budget gradient (Gumbel-top-k draws, leave-one-out
    /// baseline) averages to the exact one: over 400 calls of 4 draws, direction within cos 0.97 and length within 15 %.
    /// </summary>
    [Fact]
    public void Sampled_budget_gradient_averages_to_the_exact_one()
    {
        using var model = LanguageModel.Open(TinyModels.Random(1, "llama"));
        var c = model.Config;
        var random = new Random(7);
        var example = new TrainingExample(
            [.. Enumerable.Range(0, 6).Select(_ => random.Next(c.VocabularySize))], [.. Enumerable.Range(0, 5).Select(_ => random.Next(c.VocabularySize))]);
        using var pass = new GatedTransformer(model.Weights, 8, 8, threads: 2, routerHidden: 8);
        var objective = new RouterObjective(pass, QualityLoss.Kl, GateMode.Sequence, lambda: 0, tau: 0.5f);
        var routers = RandomRouters(c, 8, random);
        var exact = new RouterSet(c.LayerCount, c.EmbeddingLength, 8, routers.RoutedLayers);
        objective.EvaluateBudget(example, routers, exact, budget: 2, samples: 4, imitation: 0, new Random(0));

        objective.ExactSetLimit = 0;
        var sampled = new RouterSet(c.LayerCount, c.EmbeddingLength, 8, routers.RoutedLayers);
        var draws = new Random(11);
        const int Calls = 400;
        for (var i = 0; i < Calls; i++)
        {
            objective.EvaluateBudget(example, routers, sampled, budget: 2, samples: 4, imitation: 0, draws);
        }

        var a = Flatten(exact);
        var b = Flatten(sampled).Select(x => x / Calls).ToArray();
        var cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);
        var ratio = System.Numerics.Tensors.TensorPrimitives.Norm(b) / System.Numerics.Tensors.TensorPrimitives.Norm(a);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.Norm(a) > 1e-4, "the exact gradient is about zero");
        Assert.True(cosine > 0.97 && Math.Abs(ratio - 1) < 0.15, $"sampled gradient: cos {cosine:F4}, length ratio {ratio:F3}");

        static float[] Flatten(RouterSet set) => [.. set.RoutedLayers.SelectMany(l => set.Routers[l]!.Tensors.SelectMany(t => t))];
    }

    /// <summary>
    /// The LoRA stage: the gradient of every adapter parameter (A and B of the attention output and the down projection,
    /// every layer, a routed layer skipped by the frozen routers) equals central finite differences of the loss.
    /// </summary>
    [Theory]
    [InlineData("llama", QualityLoss.Kl, 1)]
    [InlineData("qwen2", QualityLoss.CrossEntropy, 2)]
    [InlineData("qwen3", QualityLoss.Kl, 2)]
    [InlineData("gemma2", QualityLoss.Kl, 1)]
    public void Adapter_gradients_match_finite_differences(string architecture, QualityLoss loss, int skip)
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(1, 1_000_000)), seed => VerifyAdapters(seed, architecture, loss, skip));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3), property);
    }

    private static void VerifyAdapters(int seed, string architecture, QualityLoss loss, int skip)
    {
        using var model = LanguageModel.Open(TinyModels.Random(seed % 3, architecture));
        var c = model.Config;
        var random = new Random(seed);
        var example = new TrainingExample(
            [.. Enumerable.Range(0, 3 + random.Next(5)).Select(_ => random.Next(c.VocabularySize))],
            [.. Enumerable.Range(0, 2 + random.Next(5)).Select(_ => random.Next(c.VocabularySize))]);
        using var pass = new GatedTransformer(model.Weights, 8, 8, threads: 2, routerHidden: 8, adapterRank: 3);
        var objective = new RouterObjective(pass, loss, GateMode.Sequence, lambda: 0.05f, tau: 0.5f);
        var routers = RandomRouters(c, 8, random);
        var adapters = new AdapterSet(c.LayerCount, c.EmbeddingLength, c.QueryLength, c.FeedForwardLength, rank: 3, alpha: 6);
        foreach (var t in adapters.Tensors)
        {
            for (var i = 0; i < t.Length; i++)
            {
                t[i] = (float)(random.NextDouble() - 0.5) * 0.4f;
            }
        }

        var decision = new RoutingOptions { MinSkip = skip, MaxSkip = skip };
        var gradient = adapters.Like();
        var loss0 = objective.EvaluateAdapters(example, routers, adapters, gradient, decision).Loss;

        // 16 random entries of every tensor of every layer (all of them would take minutes).
        const float step = 1e-2f;
        var worst = 0.0;
        var largest = 0.0;
        var parameters = adapters.Tensors;
        var analytic = gradient.Tensors;
        for (var k = 0; k < parameters.Count; k++)
        {
            for (var j = 0; j < 16; j++)
            {
                var i = random.Next(parameters[k].Length);
                var numeric = CentralDifference(parameters[k], i, step, () => objective.EvaluateAdapters(example, routers, adapters, null, decision).Loss);
                worst = Math.Max(worst, Math.Abs(numeric - analytic[k][i]));
                largest = Math.Max(largest, Math.Abs(numeric));
            }
        }

        Assert.True(largest > 1e-4, $"every gradient is about zero ({largest})");
        Assert.True(worst <= (0.002 * largest) + NoiseFloor(loss0, step), $"seed {seed}: largest difference {worst:g3} against gradients up to {largest:g3} (loss {loss0:g4})");
    }

    private static RouterSet RandomRouters(ModelConfig c, int hidden, Random random)
    {
        var routers = new RouterSet(c.LayerCount, c.EmbeddingLength, hidden, RouterSet.DefaultRoutedLayers(c.LayerCount));
        foreach (var r in routers.RoutedLayers.Select(l => routers.Routers[l]!))
        {
            // Gates spread over (0, 1), so that every layer's gate matters to the loss.
            foreach (var tensor in r.Tensors)
            {
                for (var i = 0; i < tensor.Length; i++)
                {
                    tensor[i] = (float)(random.NextDouble() - 0.5) * 0.6f;
                }
            }
        }

        return routers;
    }

    private static void Verify(int seed, string architecture, QualityLoss loss, GateMode mode, int hidden) =>
        Verify(seed, architecture, loss, mode, hidden, (objective, example, routers, gradient) => objective.Evaluate(example, routers, gradient).Loss);

    private static void Verify(int seed, string architecture, QualityLoss loss, GateMode mode, int hidden,
        Func<RouterObjective, TrainingExample, RouterSet, RouterSet?, double> evaluate)
    {
        using var model = LanguageModel.Open(TinyModels.Random(seed % 3, architecture));
        var c = model.Config;
        var random = new Random(seed);
        var prompt = Enumerable.Range(0, 3 + random.Next(5)).Select(_ => random.Next(c.VocabularySize)).ToArray();
        var continuation = Enumerable.Range(0, 2 + random.Next(5)).Select(_ => random.Next(c.VocabularySize)).ToArray();
        var example = new TrainingExample(prompt, continuation);
        using var pass = new GatedTransformer(model.Weights, 8, 8, threads: 2, routerHidden: 8);
        var objective = new RouterObjective(pass, loss, mode, lambda: 0.05f, tau: 0.5f);

        var routers = RandomRouters(c, hidden, random);
        var gradient = new RouterSet(c.LayerCount, c.EmbeddingLength, hidden, routers.RoutedLayers);
        var loss0 = evaluate(objective, example, routers, gradient);

        const float step = 1e-2f;
        var worst = 0.0;
        var largest = 0.0;
        foreach (var l in routers.RoutedLayers)
        {
            var parameters = routers.Routers[l]!.Tensors;
            var analytic = gradient.Routers[l]!.Tensors;
            for (var k = 0; k < parameters.Count; k++)
            {
                // A linear router uses only the first row of W1 and B2.
                var used = hidden == 0 ? (k == 0 ? c.EmbeddingLength : k == 3 ? 1 : 0) : parameters[k].Length;
                for (var i = 0; i < used; i++)
                {
                    var numeric = CentralDifference(parameters[k], i, step, () => evaluate(objective, example, routers, null));
                    worst = Math.Max(worst, Math.Abs(numeric - analytic[k][i]));
                    largest = Math.Max(largest, Math.Abs(numeric));
                }
            }
        }

        // Budget: 0.2% of the largest gradient (measured: below 0.05%; float32 losses, steps 1e-2 and 5e-3 extrapolated; a wrong RoPE transpose gives 4-40%), and the gradient must not be trivially zero.
        Assert.True(largest > 1e-4, $"every gradient is about zero ({largest})");
        Assert.True(worst <= (0.002 * largest) + NoiseFloor(loss0, step), $"seed {seed}: largest difference {worst:g3} against gradients up to {largest:g3} (loss {loss0:g4})");
    }

    /// <summary>
    /// The derivative of the loss in one parameter (restored afterwards) from central differences at step and step / 2, combined
    /// by Richardson extrapolation, (4 D(step / 2) − D(step)) / 3, which cancels their step² term. A plain central difference at
    /// step 1e-2 was off by 6.6e-4 against gradients up to 0.144 for one seed of the adapter test (a strongly curved loss); the
    /// error fell by 4 at each halving of the step (2.6e-3, 6.6e-4, 1.8e-4, 6.9e-5 at 2e-2 … 2.5e-3), the analytic gradient is
    /// right, and the extrapolated difference leaves only the step⁴ term.
    /// </summary>
    private static double CentralDifference(float[] tensor, int i, float step, Func<double> loss)
    {
        var saved = tensor[i];
        var wide = Difference(step);
        var narrow = Difference(step / 2);
        tensor[i] = saved;
        return ((4 * narrow) - wide) / 3;

        double Difference(float h)
        {
            tensor[i] = saved + h;
            var plus = loss();
            tensor[i] = saved - h;
            var minus = loss();
            return (plus - minus) / (2 * h);
        }
    }

    /// <summary>
    /// What float32 rounding alone can put into a central difference: the losses come out of float kernels, so two of them a
    /// few units in the last place apart differ by that much / 2 step. A cross-entropy near ln 512 ≈ 6.2 has ulps of 4.8e-7,
    /// which gives 1e-4 at step 1e-2 (seen: 7.5e-5 under DOTNET_EnableHWIntrinsic=0); a small KL gives the 1e-5 floor. The
    /// extrapolation weighs the difference at step / 2 (twice the noise) by 4/3 and the one at step by 1/3: three times the noise
    /// of one difference at step.
    /// </summary>
    private static double NoiseFloor(double loss, float step)
    {
        var magnitude = MathF.Abs((float)loss);
        return 3 * Math.Max(1e-5, 4.0 * (MathF.BitIncrement(magnitude) - magnitude) / (2 * step));
    }
}
