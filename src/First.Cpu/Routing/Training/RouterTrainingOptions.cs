using System.Globalization;
using System.Text;

namespace First.Cpu.Routing.Training;

/// <summary>Settings of <see cref="RouterTrainer"/> (shared/FIRST.md, Training; every default is ours and configurable).</summary>
public sealed record RouterTrainingOptions
{
    /// <summary>Prompt tokens per example (P).</summary>
    public int PromptLength { get; init; } = 64;

    /// <summary>Continuation tokens per example (C).</summary>
    public int ContinuationLength { get; init; } = 64;

    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 200;

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>Peak learning rate of AdamW.</summary>
    public float LearningRate { get; init; } = 3e-3f;

    /// <summary>The cosine schedule ends at this fraction of the peak.</summary>
    public float FinalLearningRateRatio { get; init; } = 0.1f;

    /// <summary>Steps of linear warm-up before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 10;

    /// <summary>Decoupled weight decay on the router matrices (not on biases).</summary>
    public float WeightDecay { get; init; } = 0.01f;

    /// <summary>Gradients are scaled down to this global L2 norm.</summary>
    public float ClipNorm { get; init; } = 1f;

    /// <summary>Weight of the mean gate in the loss [paper: 0.01].</summary>
    public float Lambda { get; init; } = 0.01f;

    /// <summary>When set, lambda adapts after every step so that the skipped fraction (1 − mean gate) approaches it.</summary>
    public float? TargetSkip { get; init; }

    /// <summary>KL to the dense model or cross-entropy.</summary>
    public QualityLoss Loss { get; init; } = QualityLoss.Kl;

    /// <summary>Sequence gates (as inference decides) or per-token gates.</summary>
    public GateMode Gates { get; init; } = GateMode.Sequence;

    /// <summary>
    /// Sequence gates drawn as 0 or 1 with probability m_i, with a straight-through gradient (see
    /// <see cref="RouterObjective.Evaluate(TrainingExample, RouterSet, RouterSet?, Random?)"/>); false: soft gates m_i.
    /// </summary>
    public bool SampledGates { get; init; }

    /// <summary>
    /// When above 0 [ours]: train for decoding that skips exactly this many layers, chosen as inference's
    /// "the k lowest m_i" does, by the expected KL of skipping whole layers (see
    /// <see cref="RouterObjective.EvaluateBudget"/>) instead of soft gates and lambda.
    /// </summary>
    public int SkipBudget { get; init; }

    /// <summary>Layer sets drawn per example when there are too many to evaluate every one (skip budget only).</summary>
    public int BudgetSamples { get; init; } = 8;

    /// <summary>Weight of the cross-entropy that pulls m_i towards the cheapest set seen (skip budget only).</summary>
    public float BudgetImitation { get; init; } = 1f;

    /// <summary>
    /// When above 0, the LoRA stage [paper: adapters recover quality]: the routers are given and frozen, and adapters of this
    /// rank (<see cref="AdapterSet"/>) are trained for the layer sets the routers choose (the <see cref="SkipBudget"/> lowest
    /// means, or those below tau without a budget).
    /// </summary>
    public int AdapterRank { get; init; }

    /// <summary>LoRA's alpha: the adapters' correction is scaled by alpha / rank.</summary>
    public float AdapterAlpha { get; init; } = 16f;

    /// <summary>Seed of initialisation and example order.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Router hidden size d_r (0: linear).</summary>
    public int Hidden { get; init; } = 64;

    /// <summary>Routed layers (null: all but the first and the last).</summary>
    public IReadOnlyList<int>? RoutedLayers { get; init; }

    /// <summary>Every router starts at about this score, so every layer executes at first.</summary>
    public float InitialGate { get; init; } = 0.95f;

    /// <summary>Threshold stored in the router file (inference skips a layer whose mean score is below it).</summary>
    public float Tau { get; init; } = 0.5f;

    /// <summary>A checkpoint every this many steps.</summary>
    public int CheckpointEvery { get; init; } = 25;

    /// <summary>Threads of the forward and backward passes.</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate(int layerCount)
    {
        static void Check(bool ok, string what)
        {
            if (!ok)
            {
                throw new ArgumentException(what);
            }
        }

        Check(PromptLength >= 1, $"prompt length must be at least 1 (got {PromptLength})");
        Check(ContinuationLength >= 2, $"continuation length must be at least 2 (got {ContinuationLength})");
        Check(Steps >= 1, $"steps must be at least 1 (got {Steps})");
        Check(BatchSize >= 1, $"batch size must be at least 1 (got {BatchSize})");
        Check(LearningRate > 0 && float.IsFinite(LearningRate), $"learning rate must be positive (got {LearningRate})");
        Check(Lambda >= 0 && float.IsFinite(Lambda), $"lambda must be 0 or more (got {Lambda})");
        Check(TargetSkip is null || (TargetSkip > 0 && TargetSkip < 1), $"target skip must be in (0, 1) (got {TargetSkip})");
        Check(Tau > 0 && Tau < 1, $"tau must be in (0, 1) (got {Tau})");
        Check(InitialGate > 0 && InitialGate < 1, $"initial gate must be in (0, 1) (got {InitialGate})");
        Check(Hidden >= 0 && Hidden <= 4096, $"router hidden size must be 0..4096 (got {Hidden})");
        Check(CheckpointEvery >= 1, $"checkpoint interval must be at least 1 (got {CheckpointEvery})");
        Check(Threads >= 1, $"threads must be at least 1 (got {Threads})");
        foreach (var l in RoutedLayers ?? [])
        {
            Check(l >= 0 && l < layerCount, $"routed layer {l} does not exist (the model has layers 0..{layerCount - 1})");
        }

        Check(RoutedLayers is null || RoutedLayers.Count > 0, "no layer to route");
        var routed = (RoutedLayers ?? RouterSet.DefaultRoutedLayers(layerCount)).Count;
        Check(SkipBudget >= 0 && SkipBudget <= routed, $"skip budget must be 0..{routed} (the routed layers; got {SkipBudget})");
        Check(SkipBudget == 0 || (Gates == GateMode.Sequence && !SampledGates), "a skip budget trains sequence decisions: it does not combine with token or sampled gates");
        Check(SkipBudget == 0 || routed <= 62, $"a skip budget handles at most 62 routed layers (got {routed})");
        Check(BudgetSamples >= 1, $"budget samples must be at least 1 (got {BudgetSamples})");
        Check(BudgetImitation >= 0 && float.IsFinite(BudgetImitation), $"budget imitation weight must be 0 or more (got {BudgetImitation})");
        Check(AdapterRank >= 0 && AdapterRank <= 1024, $"adapter rank must be 0..1024 (got {AdapterRank})");
        Check(AdapterAlpha > 0 && float.IsFinite(AdapterAlpha), $"adapter alpha must be positive (got {AdapterAlpha})");
        Check(AdapterRank == 0 || (Gates == GateMode.Sequence && !SampledGates), "adapters train for the sets inference chooses: they do not combine with token or sampled gates");
    }

    /// <summary>The settings that shape the result, as key/value text (written into router files and checkpoints).</summary>
    public IReadOnlyDictionary<string, string> Describe(int layerCount) => new Dictionary<string, string>
    {
        ["prompt_length"] = Text(PromptLength),
        ["continuation_length"] = Text(ContinuationLength),
        ["steps"] = Text(Steps),
        ["batch_size"] = Text(BatchSize),
        ["learning_rate"] = Text(LearningRate),
        ["final_learning_rate_ratio"] = Text(FinalLearningRateRatio),
        ["warmup_steps"] = Text(WarmupSteps),
        ["weight_decay"] = Text(WeightDecay),
        ["clip_norm"] = Text(ClipNorm),
        ["lambda"] = Text(Lambda),
        ["target_skip"] = TargetSkip is { } f ? Text(f) : "none",
        ["loss"] = Loss == QualityLoss.Kl ? "kl" : "ce",
        ["gates"] = Gates == GateMode.Token ? "token" : SampledGates ? "sequence-sampled" : "sequence",
        ["skip_budget"] = Text(SkipBudget),
        ["budget_samples"] = Text(BudgetSamples),
        ["budget_imitation"] = Text(BudgetImitation),
        ["seed"] = Text(Seed),
        ["hidden"] = Text(Hidden),
        ["routed_layers"] = string.Join(',', RoutedLayers ?? RouterSet.DefaultRoutedLayers(layerCount)),
        ["initial_gate"] = Text(InitialGate),
        ["tau"] = Text(Tau),
        ["adapter_rank"] = Text(AdapterRank),
        ["adapter_alpha"] = Text(AdapterAlpha),
    };

    /// <summary>One line of <see cref="Describe"/>, for comparing a checkpoint with the command resuming it.</summary>
    internal string Fingerprint(int layerCount)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in Describe(layerCount).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sb.Append(k).Append('=').Append(v).Append(';');
        }

        return sb.ToString();
    }

    private static string Text(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Text(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}
