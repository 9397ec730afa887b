using System.Numerics.Tensors;

namespace First.Cpu.Routing.Training;

/// <summary>The quality term of the router loss (shared/FIRST.md, Training).</summary>
public enum QualityLoss
{
    /// <summary>KL(dense model ‖ gated model) over the continuation: distillation, no labels needed.</summary>
    Kl,

    /// <summary>Cross-entropy of the gated model on the continuation's true next tokens.</summary>
    CrossEntropy,
}

/// <summary>A prompt and the continuation that follows it.</summary>
public sealed record TrainingExample(int[] Prompt, int[] Continuation);

/// <summary>The loss of one example and what it is made of.</summary>
public readonly record struct ExampleLoss(double Loss, double Quality, double Kl, double MeanGate, double SkippedLayers);

/// <summary>
/// The router training objective on one example: quality (KL to dense or cross-entropy) of the gated
/// continuation plus lambda × mean gate, and its gradient with respect to every router parameter.
/// Sequence gates: m_i = mean over prompt tokens of p_i(t) (no gradient flows into the prompt, which runs
/// dense); dLoss/dm_i = Σ_t dLoss/dgate_i(t) + lambda / routed layers; then back through each prompt token's router.
/// Token gates: every continuation token's gate is its own router score, and the gradient also flows
/// through the residual the routers read.
/// </summary>
public sealed class RouterObjective
{
    private readonly GatedTransformer _model;
    private readonly float[] _teacher;     // [continuation][vocabulary] dense log-probabilities
    private readonly float[] _gradient;    // [continuation][vocabulary] dLoss/dlogits
    private readonly float[] _gates;       // [layers]
    private readonly float[][] _saved;     // [layer] → [prompt][router scratch] what the prompt's router passes left
    private readonly float[][] _scores;    // [layer] → [prompt] p_i(t)
    private readonly float[] _scratch;

    /// <summary>An objective over <paramref name="model"/>'s passes.</summary>
    public RouterObjective(GatedTransformer model, QualityLoss loss, GateMode mode, float lambda, float tau)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        Loss = loss;
        Mode = mode;
        Lambda = lambda;
        Tau = tau;
        var c = model.Config;
        _teacher = new float[model.ContinuationCapacity * c.VocabularySize];
        _gradient = new float[model.ContinuationCapacity * c.VocabularySize];
        _gates = new float[c.LayerCount];
        var stride = c.EmbeddingLength + model.RouterHidden;
        _saved = [.. Enumerable.Range(0, c.LayerCount).Select(_ => new float[model.PromptCapacity * stride])];
        _scores = [.. Enumerable.Range(0, c.LayerCount).Select(_ => new float[model.PromptCapacity])];
        _scratch = new float[stride];
    }

    /// <summary>The quality term.</summary>
    public QualityLoss Loss { get; }

    /// <summary>Sequence or token gates.</summary>
    public GateMode Mode { get; }

    /// <summary>Weight of the mean gate in the loss (may change between calls: --target-skip adapts it).</summary>
    public float Lambda { get; set; }

    /// <summary>Threshold used to count the layers inference would skip.</summary>
    public float Tau { get; }

    /// <summary>The sequence gates m_i of the last example (1 for unrouted layers).</summary>
    public ReadOnlySpan<float> Gates => _gates;

    /// <summary>
    /// The loss of <paramref name="example"/> under <paramref name="routers"/>; with <paramref name="gradient"/>
    /// (a set shaped like <paramref name="routers"/>), adds the gradient of the loss to it.
    /// </summary>
    public ExampleLoss Evaluate(TrainingExample example, RouterSet routers, RouterSet? gradient) => Evaluate(example, routers, gradient, null);

    /// <summary>
    /// As <see cref="Evaluate(TrainingExample, RouterSet, RouterSet?)"/>; with <paramref name="sample"/> (sequence gates only),
    /// each routed layer's gate is drawn as 1 with probability m_i and 0 otherwise, and dLoss/dgate at the drawn gates
    /// stands in for dLoss/dm_i (a straight-through estimate). Decoding skips layers whole; soft gates of 0.7 cost
    /// little where a skipped layer costs much, and sampled gates let training see the skipped state.
    /// </summary>
    public ExampleLoss Evaluate(TrainingExample example, RouterSet routers, RouterSet? gradient, Random? sample)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(routers);
        var c = _model.Config;
        var v = c.VocabularySize;
        var prompt = example.Prompt;
        var continuation = example.Continuation;
        var n = continuation.Length;
        var routed = routers.RoutedLayers;
        var teacher = Begin(example, routers);

        var keep = gradient is not null || Mode == GateMode.Token;
        if (Mode == GateMode.Sequence)
        {
            Span<float> drawn = stackalloc float[c.LayerCount];
            _gates.AsSpan().CopyTo(drawn);
            if (sample is not null)
            {
                foreach (var l in routed)
                {
                    drawn[l] = sample.NextDouble() < _gates[l] ? 1f : 0f;
                }
            }

            _model.Continue(continuation, drawn, null, keep);
        }
        else
        {
            _model.Continue(continuation, default, routers, keep);
        }

        var grad = _gradient.AsSpan(0, n * v);
        var quality = Quality(teacher, continuation, grad, out var kl);

        var meanGate = 0.0;
        var skipped = 0.0;
        if (Mode == GateMode.Sequence)
        {
            foreach (var l in routed)
            {
                meanGate += _gates[l];
                skipped += _gates[l] < Tau ? 1 : 0;
            }

            meanGate /= Math.Max(1, routed.Count);
        }
        else
        {
            // Per-token gates: the router scores the continuation's own stream; count layers by their mean.
            meanGate = TokenGateMean(routers, n, out skipped);
        }

        if (gradient is not null)
        {
            var penalty = Lambda / Math.Max(1, routed.Count);
            if (Mode == GateMode.Sequence)
            {
                _model.Backward(grad);
                foreach (var l in routed)
                {
                    BackThroughRouter(routers, gradient, l, prompt.Length, TensorPrimitives.Sum(_model.GateGradient(l)) + penalty);
                }
            }
            else
            {
                _model.Backward(grad, routers, gradient, penalty / n);
            }
        }

        return new ExampleLoss(quality + (Lambda * meanGate), quality, kl, meanGate, skipped);
    }

    /// <summary>
    /// The skip-budget objective [ours] on one example: the routers' scores define a Plackett–Luce distribution over
    /// ordered choices of <paramref name="budget"/> routed layers (preference −logit m_i, so inference's "the k lowest
    /// m_i" is its most likely set); the loss is the expected KL(dense ‖ that set skipped) on the continuation,
    /// exact over every set when there are at most <see cref="ExactSetLimit"/> of them, otherwise estimated from
    /// <paramref name="samples"/> Gumbel-top-k draws with a leave-one-out baseline. Skipping is evaluated whole
    /// (gates 0 or 1, as decoding does), so no gradient goes through the model: each set costs one forward pass.
    /// <paramref name="imitation"/> weighs a cross-entropy that pulls m_i towards 0 for the layers of the cheapest set
    /// seen and towards 1 for the others, which also puts the cut at tau = 0.5 near the budget.
    /// </summary>
    public ExampleLoss EvaluateBudget(TrainingExample example, RouterSet routers, RouterSet? gradient, int budget, int samples, float imitation, Random random)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(random);
        var routed = routers.RoutedLayers;
        var r = routed.Count;
        if (budget < 1 || budget > r)
        {
            throw new ArgumentOutOfRangeException(nameof(budget), budget, $"the budget must be 1..{r} (the routed layers)");
        }

        var teacher = Begin(example, routers);
        var preference = new double[r];
        for (var i = 0; i < r; i++)
        {
            var m = Math.Clamp(_gates[routed[i]], 1e-6, 1 - 1e-6);
            preference[i] = -Math.Log(m / (1 - m));
        }

        var costs = new Dictionary<long, double>();
        var dPreference = new double[r];
        var logGradient = new double[r];
        double expected;
        if (Binomial(r, budget) <= ExactSetLimit)
        {
            // Every ordered choice: P(order) and d log P(order) / d preference, then Σ P (c − E) d log P.
            var orders = new List<(int[] Order, double P)>();
            Orders(r, budget, [], orders, preference);
            expected = 0;
            foreach (var (order, prob) in orders)
            {
                expected += prob * Cost(example, routers, teacher, order, costs);
            }

            foreach (var (order, prob) in orders)
            {
                LogProbabilityGradient(order, preference, logGradient);
                var weight = prob * (costs[Key(order)] - expected);
                for (var i = 0; i < r; i++)
                {
                    dPreference[i] += weight * logGradient[i];
                }
            }
        }
        else
        {
            var drawn = new int[samples][];
            var cost = new double[samples];
            for (var j = 0; j < samples; j++)
            {
                drawn[j] = GumbelTopK(preference, budget, random);
                cost[j] = Cost(example, routers, teacher, drawn[j], costs);
            }

            expected = cost.Average();
            for (var j = 0; j < samples; j++)
            {
                var baseline = samples > 1 ? ((expected * samples) - cost[j]) / (samples - 1) : 0;
                LogProbabilityGradient(drawn[j], preference, logGradient);
                for (var i = 0; i < r; i++)
                {
                    dPreference[i] += (cost[j] - baseline) * logGradient[i] / samples;
                }
            }
        }

        // The cheapest set seen, as 0/1 targets for m_i.
        var best = costs.MinBy(p => p.Value).Key;
        var meanGate = 0.0;
        var skipped = 0.0;
        var calibration = 0.0;
        for (var i = 0; i < r; i++)
        {
            var l = routed[i];
            var m = Math.Clamp(_gates[l], 1e-6, 1 - 1e-6);
            var target = (best & (1L << i)) != 0 ? 0.0 : 1.0;
            calibration -= (target * Math.Log(m)) + ((1 - target) * Math.Log(1 - m));
            meanGate += _gates[l];
            skipped += _gates[l] < Tau ? 1 : 0;
            if (gradient is not null)
            {
                // d/dlogit m of the expected cost is −d/dpreference; of the cross-entropy, m − target.
                var dLogit = -dPreference[i] + (imitation / r * (m - target));
                BackThroughRouter(routers, gradient, l, example.Prompt.Length, (float)(dLogit / (m * (1 - m))));
            }
        }

        calibration *= imitation / r;
        return new ExampleLoss(expected + calibration, expected, expected, meanGate / r, skipped);
    }

    /// <summary>
    /// The adapter objective (the LoRA stage, routers frozen): the routers choose the layers to skip for
    /// <paramref name="example"/>'s prompt exactly as inference does (<paramref name="decision"/>); the continuation
    /// runs with them skipped and <paramref name="adapters"/> applied; the loss is the quality term (KL to dense, or
    /// cross-entropy). With <paramref name="gradient"/> (shaped like the adapters), adds the gradient of the loss to it.
    /// A prompt for which the routers skip nothing costs nothing: the pass is the dense model.
    /// </summary>
    public ExampleLoss EvaluateAdapters(TrainingExample example, RouterSet routers, AdapterSet adapters, AdapterSet? gradient, RoutingOptions decision)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(decision);
        var c = _model.Config;
        var v = c.VocabularySize;
        var n = example.Continuation.Length;
        var teacher = Begin(example, routers);
        var plan = RoutingDecision.Decide(routers, _gates, decision);
        var meanGate = routers.RoutedLayers.Average(l => (double)_gates[l]);
        if (plan.SkippedCount == 0)
        {
            return new ExampleLoss(0, 0, 0, meanGate, 0);
        }

        Span<float> gates = stackalloc float[c.LayerCount];
        for (var l = 0; l < c.LayerCount; l++)
        {
            gates[l] = plan.Runs(l) ? 1f : 0f;
        }

        _model.Adapters = adapters;
        try
        {
            _model.Continue(example.Continuation, gates, null, keepTape: gradient is not null);
            var grad = _gradient.AsSpan(0, n * v);
            var quality = Quality(teacher, example.Continuation, grad, out var kl);

            if (gradient is not null)
            {
                _model.Backward(grad, adapterGradient: gradient);
            }

            return new ExampleLoss(quality, quality, kl, meanGate, plan.SkippedCount);
        }
        finally
        {
            _model.Adapters = null;
        }
    }

    /// <summary>
    /// The quality term of the last continuation's logits (KL to <paramref name="teacher"/> or cross-entropy), with
    /// dLoss/dlogits into <paramref name="grad"/>; the per-token KL into <paramref name="kl"/> either way.
    /// </summary>
    private double Quality(ReadOnlySpan<float> teacher, int[] continuation, Span<float> grad, out double kl)
    {
        var v = _model.Config.VocabularySize;
        var n = continuation.Length;
        var logits = _model.ContinuationLogits;
        kl = KlRows(teacher, logits, grad, v, n) / n;
        if (Loss == QualityLoss.Kl)
        {
            TensorPrimitives.Multiply(grad, 1f / n, grad);
            return kl;
        }

        return CrossEntropy(logits, continuation, grad, v);
    }

    /// <summary>Up to this many sets of routed layers, <see cref="EvaluateBudget"/> evaluates every one (exact expectation).</summary>
    public int ExactSetLimit { get; set; } = 64;

    /// <summary>The prompt runs dense and every router scores it (m_i into the gates); returns the dense continuation's log-probabilities.</summary>
    private Span<float> Begin(TrainingExample example, RouterSet routers)
    {
        var c = _model.Config;
        var v = c.VocabularySize;
        var prompt = example.Prompt;
        _model.Prompt(prompt);
        _gates.AsSpan().Fill(1f);
        var stride = c.EmbeddingLength + _model.RouterHidden;
        foreach (var l in routers.RoutedLayers)
        {
            var router = routers.Routers[l]!;
            var sum = 0.0;
            for (var t = 0; t < prompt.Length; t++)
            {
                var p = router.Forward(_model.PromptInput(l, t), _saved[l].AsSpan(t * stride, router.ScratchLength));
                _scores[l][t] = p;
                sum += p;
            }

            _gates[l] = (float)(sum / prompt.Length);
        }

        // The dense continuation: the teacher for KL (every gate 1).
        var teacher = _teacher.AsSpan(0, example.Continuation.Length * v);
        Span<float> ones = stackalloc float[c.LayerCount];
        ones.Fill(1f);
        _model.Continue(example.Continuation, ones, null, keepTape: false);
        LogSoftmaxRows(_model.ContinuationLogits, teacher, v);
        return teacher;
    }

    /// <summary>Adds dLoss/dm of layer <paramref name="layer"/> to its router's gradient, through every prompt token's score (m is their mean).</summary>
    private void BackThroughRouter(RouterSet routers, RouterSet gradient, int layer, int promptLength, float dMean)
    {
        var router = routers.Routers[layer]!;
        var stride = _model.Config.EmbeddingLength + _model.RouterHidden;
        var gp = dMean / promptLength;
        for (var t = 0; t < promptLength; t++)
        {
            router.Backward(_model.PromptInput(layer, t), _saved[layer].AsSpan(t * stride, router.ScratchLength), _scores[layer][t], gp,
                gradient.Routers[layer]!, default, _scratch);
        }
    }

    /// <summary>KL(dense ‖ the continuation with the routed layers of <paramref name="order"/> skipped) per token, computed once per set.</summary>
    private double Cost(TrainingExample example, RouterSet routers, ReadOnlySpan<float> teacher, int[] order, Dictionary<long, double> costs)
    {
        var key = Key(order);
        if (costs.TryGetValue(key, out var known))
        {
            return known;
        }

        var c = _model.Config;
        var n = example.Continuation.Length;
        Span<float> gates = stackalloc float[c.LayerCount];
        gates.Fill(1f);
        foreach (var i in order)
        {
            gates[routers.RoutedLayers[i]] = 0f;
        }

        _model.Continue(example.Continuation, gates, null, keepTape: false);
        var cost = KlRows(teacher, _model.ContinuationLogits, _gradient.AsSpan(0, n * c.VocabularySize), c.VocabularySize, n) / n;
        costs[key] = cost;
        return cost;
    }

    /// <summary>The set of routed indices of an order as a bit mask (the options allow a budget only with at most 62 routed layers).</summary>
    private static long Key(int[] order)
    {
        var key = 0L;
        foreach (var i in order)
        {
            key |= 1L << i;
        }

        return key;
    }

    /// <summary>Every ordered choice of <paramref name="k"/> of <paramref name="r"/> indices with its Plackett–Luce probability.</summary>
    private static void Orders(int r, int k, List<int> prefix, List<(int[] Order, double P)> output, double[] preference)
    {
        if (prefix.Count == k)
        {
            var order = prefix.ToArray();
            output.Add((order, Math.Exp(LogProbability(order, preference))));
            return;
        }

        for (var i = 0; i < r; i++)
        {
            if (!prefix.Contains(i))
            {
                prefix.Add(i);
                Orders(r, k, prefix, output, preference);
                prefix.RemoveAt(prefix.Count - 1);
            }
        }
    }

    /// <summary>log P(order) = Σ_steps preference[chosen] − log Σ_{not yet chosen} exp(preference).</summary>
    private static double LogProbability(int[] order, double[] preference)
    {
        var log = 0.0;
        for (var step = 0; step < order.Length; step++)
        {
            log += preference[order[step]] - LogSumExpRemaining(order, step, preference);
        }

        return log;
    }

    /// <summary>d log P(order) / d preference into <paramref name="gradient"/>.</summary>
    private static void LogProbabilityGradient(int[] order, double[] preference, double[] gradient)
    {
        Array.Clear(gradient);
        for (var step = 0; step < order.Length; step++)
        {
            gradient[order[step]] += 1;
            var lse = LogSumExpRemaining(order, step, preference);
            for (var i = 0; i < preference.Length; i++)
            {
                if (Array.IndexOf(order, i, 0, step) < 0)
                {
                    gradient[i] -= Math.Exp(preference[i] - lse);
                }
            }
        }
    }

    private static double LogSumExpRemaining(int[] order, int step, double[] preference)
    {
        var max = double.NegativeInfinity;
        for (var i = 0; i < preference.Length; i++)
        {
            if (Array.IndexOf(order, i, 0, step) < 0)
            {
                max = Math.Max(max, preference[i]);
            }
        }

        var sum = 0.0;
        for (var i = 0; i < preference.Length; i++)
        {
            if (Array.IndexOf(order, i, 0, step) < 0)
            {
                sum += Math.Exp(preference[i] - max);
            }
        }

        return max + Math.Log(sum);
    }

    /// <summary>An ordered draw of k indices from the Plackett–Luce distribution: the k largest of preference + Gumbel noise.</summary>
    private static int[] GumbelTopK(double[] preference, int k, Random random)
    {
        var keys = new double[preference.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = preference[i] - Math.Log(-Math.Log(Math.Max(random.NextDouble(), 1e-300)));
        }

        return [.. Enumerable.Range(0, keys.Length).OrderByDescending(i => keys[i]).ThenBy(i => i).Take(k)];
    }

    private static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 0; i < k; i++)
        {
            result = result * (n - i) / (i + 1);
        }

        return result;
    }

    private double TokenGateMean(RouterSet routers, int n, out double skipped)
    {
        var sum = 0.0;
        skipped = 0;
        foreach (var l in routers.RoutedLayers)
        {
            var mean = TensorPrimitives.Sum(_model.TokenGates(l)) / n;
            sum += mean;
            skipped += mean < Tau ? 1 : 0;
        }

        return sum / Math.Max(1, routers.RoutedLayers.Count);
    }

    /// <summary>Row-wise log-softmax, summed in double.</summary>
    internal static void LogSoftmaxRows(ReadOnlySpan<float> logits, Span<float> output, int width)
    {
        for (var row = 0; row < logits.Length / width; row++)
        {
            var x = logits.Slice(row * width, width);
            var y = output.Slice(row * width, width);
            var max = TensorPrimitives.Max(x);
            var sum = 0.0;
            foreach (var value in x)
            {
                sum += Math.Exp(value - max);
            }

            var log = max + (float)Math.Log(sum);
            TensorPrimitives.Subtract(x, log, y);
        }
    }

    /// <summary>
    /// Σ over rows of KL(teacher ‖ softmax(logits)) with <paramref name="teacher"/> as log-probabilities; writes
    /// softmax(logits) − teacher probabilities (the gradient of each row's KL) into <paramref name="gradient"/>.
    /// </summary>
    private static double KlRows(ReadOnlySpan<float> teacher, ReadOnlySpan<float> logits, Span<float> gradient, int width, int rows)
    {
        LogSoftmaxRows(logits, gradient, width);
        var total = 0.0;
        for (var i = 0; i < rows * width; i++)
        {
            var lq = gradient[i];
            var lp = teacher[i];
            var p = MathF.Exp(lp);
            total += p * (lp - lq);
            gradient[i] = MathF.Exp(lq) - p;
        }

        return total;
    }

    /// <summary>Mean cross-entropy of the gated logits at t predicting token t + 1; its gradient into <paramref name="gradient"/>.</summary>
    private static double CrossEntropy(ReadOnlySpan<float> logits, int[] continuation, Span<float> gradient, int width)
    {
        var n = continuation.Length;
        var count = n - 1;
        LogSoftmaxRows(logits, gradient, width);
        var total = 0.0;
        for (var t = 0; t < n; t++)
        {
            var row = gradient.Slice(t * width, width);
            if (t == n - 1 || count == 0)
            {
                row.Clear();
                continue;
            }

            total -= row[continuation[t + 1]];
            for (var i = 0; i < width; i++)
            {
                row[i] = MathF.Exp(row[i]) / count;
            }

            row[continuation[t + 1]] -= 1f / count;
        }

        return count == 0 ? 0 : total / count;
    }
}
