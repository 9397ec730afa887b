using System.Diagnostics;
using System.Globalization;

namespace First.Cpu.Routing.Training;

/// <summary>What one step of training reports.</summary>
public readonly record struct TrainingProgress(
    int Step, int Steps, double Loss, double Kl, double MeanGate, double SkippedLayers, double TokensPerSecond,
    float LearningRate, float Lambda, TimeSpan Elapsed)
{
    /// <summary>Time left at the pace so far.</summary>
    public TimeSpan Remaining(int startStep) =>
        Step <= startStep ? TimeSpan.Zero : TimeSpan.FromTicks(Elapsed.Ticks / (Step - startStep) * (Steps - Step));
}

/// <summary>
/// Trains FiRST routers on a frozen model: per step a batch of examples, the gradient of
/// <see cref="RouterObjective"/>, AdamW with warm-up and cosine decay, clipping. Deterministic for a given seed
/// and thread count: the batch of step s depends only on (seed, s), and the passes sum in a fixed order.
/// With a checkpoint path it saves routers, optimiser and lambda every <see cref="RouterTrainingOptions.CheckpointEvery"/>
/// steps and, started again with the same settings, resumes from there and reaches the same routers.
/// </summary>
public sealed class RouterTrainer : IDisposable
{
    private readonly LanguageModel _model;
    private readonly IReadOnlyList<TrainingExample> _examples;
    private readonly GatedTransformer _pass;
    private readonly RouterObjective _objective;
    private readonly RouterSet? _gradient;
    private readonly AdapterSet? _adapterGradient;
    private readonly IReadOnlyList<float[]> _parameters;
    private readonly IReadOnlyList<float[]> _gradients;
    private readonly RoutingOptions _decision;
    private readonly AdamW _optimizer;

    /// <summary>
    /// A trainer for <paramref name="model"/> on <paramref name="examples"/>: of routers initialised from the seed, or, with
    /// <see cref="RouterTrainingOptions.AdapterRank"/> above 0, of adapters for the given, frozen <paramref name="routers"/>.
    /// </summary>
    public RouterTrainer(LanguageModel model, RouterTrainingOptions options, IReadOnlyList<TrainingExample> examples, RouterSet? routers = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(examples);
        var c = model.Config;
        options.Validate(c.LayerCount);
        if (examples.Count == 0)
        {
            throw new TrainingDataException("no training example");
        }

        if ((options.AdapterRank > 0) != (routers is not null))
        {
            throw new ArgumentException(options.AdapterRank > 0 ? "training adapters needs the routers they serve" : "routers are given only to train adapters for them");
        }

        _model = model;
        Options = options;
        _examples = examples;
        var p = examples.Max(e => e.Prompt.Length);
        var n = examples.Max(e => e.Continuation.Length);
        _pass = new GatedTransformer(model.Weights, p, n, options.Threads, routers?.Hidden ?? options.Hidden, options.AdapterRank);
        _objective = new RouterObjective(_pass, options.Loss, options.Gates, options.Lambda, options.Tau);
        _decision = options.SkipBudget > 0
            ? new RoutingOptions { Tau = options.Tau, MinSkip = options.SkipBudget, MaxSkip = options.SkipBudget }
            : new RoutingOptions { Tau = options.Tau };
        Settings = options.Fingerprint(c.LayerCount) + "examples=" + ExamplesHash(examples) + ";";
        if (routers is null)
        {
            Routers = Initial(c.LayerCount, c.EmbeddingLength, options);
            _gradient = RouterSets.Like(Routers);
            _parameters = RouterSets.Tensors(Routers);
            _gradients = RouterSets.Tensors(_gradient);
            _optimizer = new AdamW(_parameters, RouterSets.Matrices(Routers));
        }
        else
        {
            if (routers.LayerCount != c.LayerCount || routers.Embedding != c.EmbeddingLength)
            {
                throw new ArgumentException($"routers for {routers.LayerCount} layers of {routers.Embedding}; the model has {c.LayerCount} of {c.EmbeddingLength}", nameof(routers));
            }

            Routers = routers;
            Adapters = InitialAdapters(c, options);
            Routers.Adapters = Adapters;
            _adapterGradient = Adapters.Like();
            _parameters = Adapters.Tensors;
            _gradients = _adapterGradient.Tensors;
            _optimizer = new AdamW(_parameters, [.. _parameters.Select(_ => true)]);
            Settings += "routers=" + RoutersHash(routers) + ";";
        }
    }

    /// <summary>The adapters being trained (LoRA stage), or null.</summary>
    public AdapterSet? Adapters { get; }

    /// <summary>Adapters whose A matrices are random (scale 1/√input) and whose B matrices are zero: at first they change nothing.</summary>
    public static AdapterSet InitialAdapters(Model.ModelConfig config, RouterTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        var adapters = new AdapterSet(config.LayerCount, config.EmbeddingLength, config.QueryLength, config.FeedForwardLength, options.AdapterRank, options.AdapterAlpha);
        var random = new Random(options.Seed);
        foreach (var a in adapters.Layers)
        {
            Fill(a.OutputA, random, 1 / MathF.Sqrt(config.QueryLength));
            Fill(a.DownA, random, 1 / MathF.Sqrt(config.FeedForwardLength));
        }

        return adapters;
    }

    /// <summary>The settings.</summary>
    public RouterTrainingOptions Options { get; }

    /// <summary>The routers being trained.</summary>
    public RouterSet Routers { get; }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The current lambda (it moves with <see cref="RouterTrainingOptions.TargetSkip"/>).</summary>
    public float Lambda => _objective.Lambda;

    /// <summary>What a checkpoint must match: the settings and the examples.</summary>
    internal string Settings { get; }

    /// <summary>Routers whose first layer is random (scale 1/√d) and whose output bias gives about <see cref="RouterTrainingOptions.InitialGate"/>.</summary>
    public static RouterSet Initial(int layerCount, int embedding, RouterTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var routers = new RouterSet(layerCount, embedding, options.Hidden, options.RoutedLayers ?? RouterSet.DefaultRoutedLayers(layerCount));
        var random = new Random(options.Seed);
        var b2 = MathF.Log(options.InitialGate / (1 - options.InitialGate));
        foreach (var l in routers.RoutedLayers)
        {
            var r = routers.Routers[l]!;
            Fill(r.W1, random, 1 / MathF.Sqrt(embedding));
            if (options.Hidden > 0)
            {
                Fill(r.W2, random, 0.1f / MathF.Sqrt(options.Hidden));
            }

            r.B2 = b2;
        }

        return routers;
    }

    /// <summary>Normal draws of standard deviation <paramref name="scale"/> (Box–Muller from two uniform ones).</summary>
    private static void Fill(float[] values, Random random, float scale)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }
    }

    /// <summary>
    /// Trains up to <see cref="RouterTrainingOptions.Steps"/>, resuming from <paramref name="checkpoint"/> when it exists
    /// (and saving to it as it goes); <paramref name="progress"/> hears of every step.
    /// </summary>
    /// <exception cref="TrainingCheckpointException">The checkpoint was written by a run with other settings or data.</exception>
    public RouterSet Train(string? checkpoint = null, Action<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (checkpoint is not null && File.Exists(checkpoint))
        {
            var state = TrainingCheckpoint.Read(checkpoint, _parameters, _optimizer, Settings);
            Step = state.Step;
            _objective.Lambda = state.Lambda;
        }

        var startStep = Step;
        var clock = Stopwatch.StartNew();
        var tokens = 0L;
        while (Step < Options.Steps)
        {
            cancellation.ThrowIfCancellationRequested();
            var result = TrainStep();
            tokens += result.Tokens;
            Step++;
            if (checkpoint is not null && (Step % Options.CheckpointEvery == 0 || Step == Options.Steps))
            {
                TrainingCheckpoint.Write(checkpoint, Step, _objective.Lambda, Settings, _parameters, _optimizer);
            }

            progress?.Invoke(new TrainingProgress(Step, Options.Steps, result.Loss.Loss, result.Loss.Kl, result.Loss.MeanGate, result.Loss.SkippedLayers,
                tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9), result.LearningRate, _objective.Lambda, clock.Elapsed));
        }

        return Routers;
    }

    /// <summary>The learning rate of step <paramref name="step"/> (0-based): linear warm-up, then cosine down to the final ratio.</summary>
    public static float LearningRate(RouterTrainingOptions o, int step)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (step < o.WarmupSteps)
        {
            return o.LearningRate * (step + 1) / o.WarmupSteps;
        }

        var span = Math.Max(1, o.Steps - o.WarmupSteps);
        var progress = Math.Min(1.0, (double)(step - o.WarmupSteps) / span);
        var floor = o.LearningRate * o.FinalLearningRateRatio;
        return (float)(floor + ((o.LearningRate - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }

    private (ExampleLoss Loss, float LearningRate, long Tokens) TrainStep()
    {
        TensorLists.Clear(_gradients);
        var random = new Random(unchecked((int)Mix((ulong)Options.Seed, (ulong)Step))); // not HashCode: it is seeded per process
        double loss = 0, kl = 0, gate = 0, skipped = 0;
        var tokens = 0L;
        for (var b = 0; b < Options.BatchSize; b++)
        {
            var example = _examples[random.Next(_examples.Count)];
            var r = Adapters is not null
                ? _objective.EvaluateAdapters(example, Routers, Adapters, _adapterGradient, _decision)
                : Options.SkipBudget > 0
                ? _objective.EvaluateBudget(example, Routers, _gradient, Options.SkipBudget, Options.BudgetSamples, Options.BudgetImitation, random)
                : _objective.Evaluate(example, Routers, _gradient, Options.SampledGates ? random : null);
            loss += r.Loss;
            kl += r.Kl;
            gate += r.MeanGate;
            skipped += r.SkippedLayers;
            tokens += example.Prompt.Length + example.Continuation.Length;
        }

        var k = Options.BatchSize;
        TensorLists.Scale(_gradients, 1f / k);
        var lr = LearningRate(Options, Step);
        _optimizer.Step(_parameters, _gradients, lr, Options.WeightDecay, Options.ClipNorm);
        if (Options.TargetSkip is { } target && Options.SkipBudget == 0 && Adapters is null)
        {
            // Dual ascent on lambda: more pressure while the skipped fraction (1 − mean gate) is below the target.
            var skippedFraction = 1 - (gate / k);
            _objective.Lambda = Math.Clamp(_objective.Lambda * MathF.Exp(0.5f * (float)(target - skippedFraction)), 1e-4f, 1f);
        }

        return (new ExampleLoss(loss / k, 0, kl / k, gate / k, skipped / k), lr, tokens);
    }

    /// <summary>A hash of every token of every example, the same in every process.</summary>
    private static string ExamplesHash(IReadOnlyList<TrainingExample> examples)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var e in examples)
        {
            foreach (var t in e.Prompt)
            {
                hash = Mix(hash, (ulong)t);
            }

            hash = Mix(hash, ulong.MaxValue);
            foreach (var t in e.Continuation)
            {
                hash = Mix(hash, (ulong)t);
            }

            hash = Mix(hash, ulong.MaxValue - 1);
        }

        return examples.Count.ToString(CultureInfo.InvariantCulture) + "/" + hash.ToString("x16", CultureInfo.InvariantCulture);
    }

    /// <summary>A hash of every router parameter's bits (adapters are trained for these routers only).</summary>
    private static string RoutersHash(RouterSet routers)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var t in RouterSets.Tensors(routers))
        {
            foreach (var v in t)
            {
                hash = Mix(hash, BitConverter.SingleToUInt32Bits(v));
            }
        }

        return hash.ToString("x16", CultureInfo.InvariantCulture);
    }

    /// <summary>SplitMix64's finaliser over a running hash and a value.</summary>
    internal static ulong Mix(ulong hash, ulong value)
    {
        var z = unchecked(hash + value + 0x9e3779b97f4a7c15UL);
        z = unchecked((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94d049bb133111ebUL);
        return z ^ (z >> 31);
    }

    /// <inheritdoc/>
    public void Dispose() => _pass.Dispose();
}
