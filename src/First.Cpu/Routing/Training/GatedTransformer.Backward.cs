using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using First.Cpu.Kernels;

namespace First.Cpu.Routing.Training;

public sealed unsafe partial class GatedTransformer
{
    /// <summary>
    /// Back-propagates dLoss/dlogits (<paramref name="logitGradient"/>, [ContinuationLength][VocabularySize]) of the
    /// last <see cref="Continue"/> (with its tape) to every gate: afterwards <see cref="GateGradient"/> holds
    /// dLoss/dgate per layer and token. With <paramref name="tokenRouters"/> (the routers that gated the pass)
    /// their parameter gradients are added to <paramref name="routerGradient"/>, including what flows through the
    /// residual they read; <paramref name="gatePenalty"/> is added to dLoss/dgate of every token of a routed layer
    /// first (the gradient of lambda × mean gate). When the pass applied <see cref="Adapters"/>, their parameter gradients
    /// are added to <paramref name="adapterGradient"/> (required then).
    /// </summary>
    public void Backward(ReadOnlySpan<float> logitGradient, RouterSet? tokenRouters = null, RouterSet? routerGradient = null, float gatePenalty = 0,
        AdapterSet? adapterGradient = null)
    {
        if (_adapting && adapterGradient is null)
        {
            throw new ArgumentNullException(nameof(adapterGradient), "the pass applied adapters: their gradient needs somewhere to go");
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        var c = Config;
        var n = ContinuationLength;
        var d = c.EmbeddingLength;
        if (logitGradient.Length != n * c.VocabularySize)
        {
            throw new ArgumentException($"one gradient per logit ({n} × {c.VocabularySize})", nameof(logitGradient));
        }

        // Output head: normed = RMSNorm(x) ⊙ w, logits = W_out · normed (then cap · tanh(logits / cap) with a final soft-cap).
        var gx = Gradient;                   // [n][d] dLoss/d residual
        var gNormed = GradientWork;          // [n][d]
        new Span<float>(gNormed, n * d).Clear();
        fixed (float* g = logitGradient)
        {
            var gLogits = g;
            if (c.FinalSoftcap != 0)
            {
                var cap = c.FinalSoftcap;
                for (long i = 0; i < (long)n * c.VocabularySize; i++)
                {
                    var tanh = Logits[i] / cap;
                    CappedLogitGradient[i] = g[i] * (1f - (tanh * tanh));
                }

                gLogits = CappedLogitGradient;
            }

            MatMul.MultiplyTransposedAdd(Weights.Output, gLogits, n, gNormed, _pool);
        }

        new Span<float>(gx, n * d).Clear();
        for (var t = 0; t < n; t++)
        {
            NormalizeBackward(HeadInput + ((long)t * d), HeadScale[t], Weights.OutputNorm, gNormed + ((long)t * d), gx + ((long)t * d), d);
        }

        var routerScratch = _routerScratch.AsSpan();
        for (var l = c.LayerCount - 1; l >= 0; l--)
        {
            LayerBackward(l, n, PromptLength, _tapes[l], _adapting ? adapterGradient!.Layers[l] : null);
            var router = tokenRouters?.Routers[l];
            if (router is not null)
            {
                // The router read this layer's input: its gradient flows into the residual too.
                var tape = _tapes[l];
                var grad = routerGradient!.Routers[l]!;
                for (var t = 0; t < n; t++)
                {
                    GateGradients[l][t] += gatePenalty;
                    var saved = new ReadOnlySpan<float>(tape.RouterSaved + ((long)t * tape.RouterStride), router.ScratchLength);
                    router.Backward(new ReadOnlySpan<float>(tape.X + ((long)t * d), d), saved, tape.Gates[t], GateGradients[l][t], grad,
                        new Span<float>(gx + ((long)t * d), d), routerScratch);
                }
            }
        }
    }

    /// <summary>
    /// Given dLoss/d(output of layer) in <see cref="Gradient"/>, leaves dLoss/d(input of layer) there and
    /// dLoss/dgate in <see cref="GateGradients"/>. Output = x + g · delta(x).
    /// </summary>
    private void LayerBackward(int layer, int n, int start, LayerTape tape, LayerAdapter? adapterGradient)
    {
        var adapter = adapterGradient is null ? null : _adapters!.Layers[layer];
        var rank = _adapters?.Rank ?? 0;
        var scale = _adapters?.Scale ?? 0;
        var c = Config;
        var lw = Weights.Layers[layer];
        var d = c.EmbeddingLength;
        var ff = c.FeedForwardLength;
        var qLen = c.QueryLength;
        var kvLen = c.KvLength;
        var gx = Gradient;

        // dgate = gy · delta; dLoss/d delta = g · gy (the identity path leaves gy in gx as it is).
        var gDelta = GradientWork; // [n][d]
        for (var t = 0; t < n; t++)
        {
            var gy = new ReadOnlySpan<float>(gx + ((long)t * d), d);
            GateGradients[layer][t] = TensorPrimitives.Dot(gy, new ReadOnlySpan<float>(tape.Delta + ((long)t * d), d));
            TensorPrimitives.Multiply(gy, tape.Gates[t], new Span<float>(gDelta + ((long)t * d), d));
        }

        // Feed-forward: delta = ao + W_down · (silu(G) ⊙ U), G = W_gate · n2, U = W_up · n2, n2 = RMSNorm(x + ao).
        var gGate = Ffn;  // [n][ff]
        var gUp = Ffn2;   // [n][ff]
        new Span<float>(gGate, n * ff).Clear();
        // Gemma: ffn_out = RMSNorm(W_down · a) ⊙ w: the down path takes the gradient through that norm.
        var gDown = PostNormBackward(lw.PostFeedForwardNorm, tape.PostFeedForwardInput, tape.PostFeedForwardScale, gDelta, n);

        if (adapter is not null)
        {
            // The adapter read the activation's output: recompute it (into gUp's buffer, written below).
            Activate(tape, n * ff, gUp);
            AdapterSet.Backward(adapter.DownA, adapter.DownB, adapterGradient!.DownA, adapterGradient.DownB, rank, scale, gUp, ff, gDown, d, n,
                tape.DownLow, gGate, _adapterScratch);
        }

        MatMul.MultiplyTransposedAdd(lw.Down, gDown, n, gGate, _pool);
        for (long i = 0; i < (long)n * ff; i++)
        {
            var gs = gGate[i];
            var g = tape.GateValues[i];
            if (c.IsGemma)
            {
                // GEGLU: a = gelu(G) ⊙ U.
                gUp[i] = gs * Gelu(g);
                gGate[i] = gs * tape.UpValues[i] * GeluDerivative(g);
                continue;
            }

            var s = Router.Sigmoid(g);
            gUp[i] = gs * g * s;
            gGate[i] = gs * tape.UpValues[i] * s * (1f + (g * (1f - s)));
        }

        var gNormed = Work; // [n][d]
        new Span<float>(gNormed, n * d).Clear();
        MatMul.MultiplyTransposedAdd(lw.Gate, gGate, n, gNormed, _pool);
        MatMul.MultiplyTransposedAdd(lw.Up, gUp, n, gNormed, _pool);

        // gX2 goes to x directly (x2 = x + ao) and to ao, which also feeds delta directly: gAo = gDelta + gX2.
        for (var t = 0; t < n; t++)
        {
            var row = (long)t * d;
            NormalizeBackward(tape.X2 + row, tape.Scale2[t], lw.FeedForwardNorm, gNormed + row, gDelta + row, d);
            NormalizeBackward(tape.X2 + row, tape.Scale2[t], lw.FeedForwardNorm, gNormed + row, gx + row, d);
        }

        // Attention: ao = W_o · attended (Gemma: then RMSNorm ⊙ w).
        var gOutput = PostNormBackward(lw.PostAttentionNorm, tape.PostAttentionInput, tape.PostAttentionScale, gDelta, n);

        var gAttended = Work; // [n][qLen], reusing the buffer: gNormed has been consumed
        new Span<float>(gAttended, n * qLen).Clear();
        MatMul.MultiplyTransposedAdd(lw.Output, gOutput, n, gAttended, _pool);
        if (adapter is not null)
        {
            AdapterSet.Backward(adapter.OutputA, adapter.OutputB, adapterGradient!.OutputA, adapterGradient.OutputB, rank, scale, tape.Attended, qLen,
                gOutput, d, n, tape.OutputLow, gAttended, _adapterScratch);
        }

        var gQ = GradientWork; // [n][qLen], gDelta has been consumed
        var gK = KvWork;                     // [n][kvLen] gradients of the continuation's keys (after RoPE)
        var gV = KvWork + ((long)n * kvLen); // [n][kvLen] and values
        new Span<float>(gQ, n * qLen).Clear();
        new Span<float>(KvWork, 2 * n * kvLen).Clear();
        AttendBackward(layer, n, start, tape, gAttended, gQ, gK, gV);

        var hd = c.HeadDimension;
        for (var t = 0; t < n; t++)
        {
            var pos = start + t;
            for (var h = 0; h < c.HeadCount; h++)
            {
                Rotate(gQ + ((long)t * qLen) + (h * hd), pos, inverse: true, c.IsSliding(layer));
            }

            for (var g = 0; g < c.HeadCountKv; g++)
            {
                Rotate(gK + ((long)t * kvLen) + (g * hd), pos, inverse: true, c.IsSliding(layer));
            }
        }

        if (lw.QueryNorm != null)
        {
            // qwen3: through each head's RMSNorm, back to the projections' outputs.
            for (var i = 0; i < n * c.HeadCount; i++)
            {
                NormalizeBackwardInPlace(tape.QRaw + ((long)i * hd), tape.QScale[i], lw.QueryNorm, gQ + ((long)i * hd), hd);
            }

            for (var i = 0; i < n * c.HeadCountKv; i++)
            {
                NormalizeBackwardInPlace(tape.KRaw + ((long)i * hd), tape.KScale[i], lw.KeyNorm, gK + ((long)i * hd), hd);
            }
        }

        var gNormed1 = Work; // [n][d], gAttended has been consumed
        new Span<float>(gNormed1, n * d).Clear();
        MatMul.MultiplyTransposedAdd(lw.Query, gQ, n, gNormed1, _pool);
        MatMul.MultiplyTransposedAdd(lw.Key, gK, n, gNormed1, _pool);
        MatMul.MultiplyTransposedAdd(lw.Value, gV, n, gNormed1, _pool);
        for (var t = 0; t < n; t++)
        {
            var row = (long)t * d;
            NormalizeBackward(tape.X + row, tape.Scale1[t], lw.AttentionNorm, gNormed1 + row, gx + row, d);
        }
    }

    /// <summary>
    /// Backward of softmax attention: o = Σ_j a_j v_j, a = softmax(scale · q · k_j). Keys and values of the
    /// prompt are constants; those of the continuation (positions start..) get gradients.
    /// </summary>
    private void AttendBackward(int layer, int n, int start, LayerTape tape, float* gAttended, float* gQ, float* gK, float* gV)
    {
        var c = Config;
        var hd = c.HeadDimension;
        var qLen = c.QueryLength;
        var kvLen = c.KvLength;
        var group = c.HeadCount / c.HeadCountKv;
        var scale = ScoreScale;
        var cap = c.AttentionSoftcap;
        var gScores = _scoreGradients;
        for (var t = 0; t < n; t++)
        {
            var visible = start + t + 1;
            for (var h = 0; h < c.HeadCount; h++)
            {
                var g = h / group;
                var a = new ReadOnlySpan<float>(tape.Probabilities + ((((long)t * c.HeadCount) + h) * Capacity), visible);
                var go = new ReadOnlySpan<float>(gAttended + ((long)t * qLen) + (h * hd), hd);
                var q = new ReadOnlySpan<float>(tape.Q + ((long)t * qLen) + (h * hd), hd);
                var gq = new Span<float>(gQ + ((long)t * qLen) + (h * hd), hd);
                var keys = Keys[layer] + ((long)g * Capacity * hd);
                var values = Values[layer] + ((long)g * Capacity * hd);

                // da_j = go · v_j; dscore_j = a_j (da_j − Σ_k a_k da_k).
                var ga = gScores.AsSpan(0, visible);
                for (var j = 0; j < visible; j++)
                {
                    ga[j] = TensorPrimitives.Dot(go, new ReadOnlySpan<float>(values + ((long)j * hd), hd));
                }

                var mean = TensorPrimitives.Dot(a, ga);
                for (var j = 0; j < visible; j++)
                {
                    var gs = a[j] * (ga[j] - mean) * scale;
                    if (cap != 0 && gs != 0)
                    {
                        // score = cap · tanh(scale · q·k / cap): d score / d(scale · q·k) = 1 − tanh².
                        var tanh = MathF.Tanh(scale * TensorPrimitives.Dot(q, new ReadOnlySpan<float>(keys + ((long)j * hd), hd)) / cap);
                        gs *= 1f - (tanh * tanh);
                    }

                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(keys + ((long)j * hd), hd), gs, gq, gq);
                    if (j >= start)
                    {
                        var k = new Span<float>(gK + ((long)(j - start) * kvLen) + (g * hd), hd);
                        TensorPrimitives.MultiplyAdd(q, gs, k, k);
                        var v = new Span<float>(gV + ((long)(j - start) * kvLen) + (g * hd), hd);
                        TensorPrimitives.MultiplyAdd(go, a[j], v, v);
                    }
                }
            }
        }
    }

    /// <summary>
    /// dLoss/d(input) of Gemma's norm after a block (<see cref="NormRows"/>) into <see cref="PostGradient"/>, given dLoss/d(output)
    /// <paramref name="gy"/>; <paramref name="gy"/> itself where there is no such norm.
    /// </summary>
    private float* PostNormBackward(float* weight, float* input, float* scales, float* gy, int n)
    {
        if (weight == null)
        {
            return gy;
        }

        var d = Config.EmbeddingLength;
        new Span<float>(PostGradient, n * d).Clear();
        for (var t = 0; t < n; t++)
        {
            var row = (long)t * d;
            NormalizeBackward(input + row, scales[t], weight, gy + row, PostGradient + row, d);
        }

        return PostGradient;
    }

    /// <summary>Replaces dLoss/dy in <paramref name="g"/> by dLoss/dx through y = x · r ⊙ w (<see cref="NormalizeBackward"/>).</summary>
    [SkipLocalsInit]
    private static void NormalizeBackwardInPlace(float* x, float r, float* weight, float* g, int d)
    {
        Span<float> gx = stackalloc float[d];
        gx.Clear();
        fixed (float* p = gx)
        {
            NormalizeBackward(x, r, weight, g, p, d);
        }

        gx.CopyTo(new Span<float>(g, d));
    }

    /// <summary>
    /// Adds to <paramref name="gx"/> the gradient through y = x · r ⊙ w, r = (mean x² + eps)^(−1/2), given dLoss/dy:
    /// dx = r · (w ⊙ gy) − x · r³ · ((w ⊙ gy) · x) / d.
    /// </summary>
    private static void NormalizeBackward(float* x, float r, float* weight, float* gy, float* gx, int d)
    {
        var xs = new ReadOnlySpan<float>(x, d);
        var w = new ReadOnlySpan<float>(weight, d);
        var g = new ReadOnlySpan<float>(gy, d);
        var dst = new Span<float>(gx, d);
        var dot = 0f;
        for (var i = 0; i < d; i++)
        {
            dot += w[i] * g[i] * xs[i];
        }

        var k = -r * r * r * dot / d;
        for (var i = 0; i < d; i++)
        {
            dst[i] += (r * w[i] * g[i]) + (k * xs[i]);
        }
    }
}
