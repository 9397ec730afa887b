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

        _model.Prompt(prompt);
        _gates.AsSpan().Fill(1f);
        var stride = c.EmbeddingLength + _model.RouterHidden;
        foreach (var l in routed)
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
        var teacher = _teacher.AsSpan(0, n * v);
        {
            Span<float> ones = stackalloc float[c.LayerCount];
            ones.Fill(1f);
            _model.Continue(continuation, ones, null, keepTape: false);
            LogSoftmaxRows(_model.ContinuationLogits, teacher, v);
        }

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

        // Quality and dLoss/dlogits.
        var logits = _model.ContinuationLogits;
        var grad = _gradient.AsSpan(0, n * v);
        var kl = KlRows(teacher, logits, grad, v, n) / n;
        double quality;
        if (Loss == QualityLoss.Kl)
        {
            quality = kl;
            TensorPrimitives.Multiply(grad, 1f / n, grad);
        }
        else
        {
            quality = CrossEntropy(logits, continuation, grad, v);
        }

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
                    var gm = TensorPrimitives.Sum(_model.GateGradient(l)) + penalty;
                    var router = routers.Routers[l]!;
                    var gp = gm / prompt.Length;
                    for (var t = 0; t < prompt.Length; t++)
                    {
                        router.Backward(_model.PromptInput(l, t), _saved[l].AsSpan(t * stride, router.ScratchLength), _scores[l][t], gp,
                            gradient.Routers[l]!, default, _scratch);
                    }
                }
            }
            else
            {
                _model.Backward(grad, routers, gradient, penalty / n);
            }
        }

        return new ExampleLoss(quality + (Lambda * meanGate), quality, kl, meanGate, skipped);
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
