using FsCheck;
using FsCheck.Fluent;
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
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Analytic_gradients_match_finite_differences(string architecture, QualityLoss loss, GateMode mode, int hidden)
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(1, 1_000_000)), seed => Verify(seed, architecture, loss, mode, hidden));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3), property);
    }

    private static void Verify(int seed, string architecture, QualityLoss loss, GateMode mode, int hidden)
    {
        using var model = LanguageModel.Open(TinyModels.Random(seed % 3, architecture));
        var c = model.Config;
        var random = new Random(seed);
        var prompt = Enumerable.Range(0, 3 + random.Next(5)).Select(_ => random.Next(c.VocabularySize)).ToArray();
        var continuation = Enumerable.Range(0, 2 + random.Next(5)).Select(_ => random.Next(c.VocabularySize)).ToArray();
        var example = new TrainingExample(prompt, continuation);
        using var pass = new GatedTransformer(model.Weights, 8, 8, threads: 2, routerHidden: 8);
        var objective = new RouterObjective(pass, loss, mode, lambda: 0.05f, tau: 0.5f);

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

        var gradient = new RouterSet(c.LayerCount, c.EmbeddingLength, hidden, routers.RoutedLayers);
        objective.Evaluate(example, routers, gradient);

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
                    var saved = parameters[k][i];
                    parameters[k][i] = saved + step;
                    var plus = objective.Evaluate(example, routers, null).Loss;
                    parameters[k][i] = saved - step;
                    var minus = objective.Evaluate(example, routers, null).Loss;
                    parameters[k][i] = saved;
                    var numeric = (plus - minus) / (2 * step);
                    worst = Math.Max(worst, Math.Abs(numeric - analytic[k][i]));
                    largest = Math.Max(largest, Math.Abs(numeric));
                }
            }
        }

        // Budget: 0.2% of the largest gradient (measured: below 0.05%; float32 losses, step 1e-2; a wrong RoPE transpose gives 4-40%), and the gradient must not be trivially zero.
        Assert.True(largest > 1e-4, $"every gradient is about zero ({largest})");
        Assert.True(worst <= (0.002 * largest) + 1e-5, $"seed {seed}: largest difference {worst:g3} against gradients up to {largest:g3}");
    }
}
