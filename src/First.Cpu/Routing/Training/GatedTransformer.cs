using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using First.Cpu.Kernels;
using First.Cpu.Model;

namespace First.Cpu.Routing.Training;

/// <summary>How the continuation's layers are gated during router training (shared/FIRST.md, Training).</summary>
public enum GateMode
{
    /// <summary>One gate per layer for the whole continuation, m_i: the mean router score over the prompt (what inference decides on).</summary>
    Sequence,

    /// <summary>Every continuation token gated by its own router score p_i(t), computed on the gated stream.</summary>
    Token,
}

/// <summary>
/// The forward and backward pass router training needs, in float32 on the frozen model: the prompt runs dense
/// and fills an F32 KV cache; the continuation runs with soft gates, h ← h + g · (Layer(h) − h), attending to
/// the prompt's cache and to itself, and keeps every activation the backward pass reads (its tape). The
/// backward pass goes from the logits through the output head, every block (RMSNorm, RoPE, attention and
/// softmax, SwiGLU, residuals) and the gates, computing gradients for activations and gates only (the weights
/// are frozen); <see cref="RouterObjective"/> carries them on to router parameters.
/// Projections reuse the inference kernels (<see cref="MatMul"/>, quantized activations included), so with every
/// gate at 1 the logits are the engine's own up to the F32 cache; transposed products dequantize on the fly.
/// </summary>
public sealed unsafe partial class GatedTransformer : IDisposable
{
    private readonly List<nint> _buffers = [];
    private readonly WorkerPool _pool;
    private readonly LayerTape _scratchTape;
    private readonly LayerTape[] _tapes;
    private readonly float[] _scoreGradients;
    private readonly float[] _routerScratch;
    private readonly float[] _adapterScratch;
    private AdapterSet? _adapters;
    private bool _adapting;
    private bool _disposed;

    /// <summary>
    /// Buffers for prompts of up to <paramref name="promptLength"/> and continuations of up to <paramref name="continuationLength"/>
    /// tokens, token gates from routers of up to <paramref name="routerHidden"/> hidden units, and adapters of rank up to
    /// <paramref name="adapterRank"/>.
    /// </summary>
    public GatedTransformer(ModelWeights weights, int promptLength, int continuationLength, int threads, int routerHidden = 64, int adapterRank = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(adapterRank);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(continuationLength);
        Weights = weights;
        Config = weights.Config;
        PromptCapacity = promptLength;
        ContinuationCapacity = continuationLength;
        Capacity = promptLength + continuationLength;
        RouterHidden = routerHidden;
        AdapterRank = adapterRank;
        _adapterScratch = new float[Math.Max(adapterRank, 1)];
        _pool = new WorkerPool(threads);
        var c = Config;
        var d = c.EmbeddingLength;
        var maxTokens = Math.Max(promptLength, continuationLength);

        X = Alloc(maxTokens * d);
        Work = Alloc(maxTokens * Math.Max(d, c.QueryLength));
        Ffn = Alloc(maxTokens * c.FeedForwardLength);
        Ffn2 = Alloc(maxTokens * c.FeedForwardLength);
        KvWork = Alloc(2 * maxTokens * c.KvLength);
        var w = weights;
        var l0 = w.Layers[0];
        var quantBytes = new[] { l0.Query, l0.Key, l0.Value, l0.Output, l0.Gate, l0.Up, l0.Down, w.Output }.Max(m => m.ActivationRowBytes);
        Quantized = (byte*)Alloc(((long)maxTokens * quantBytes / sizeof(float)) + 1);

        var half = c.RopeDimensions / 2;
        RopeCos = Alloc(Capacity * half);
        RopeSin = Alloc(Capacity * half);
        RopeSinNegated = Alloc(Capacity * half);
        var sliding = c.HasSlidingRope;
        RopeCosSliding = sliding ? Alloc(Capacity * half) : RopeCos;
        RopeSinSliding = sliding ? Alloc(Capacity * half) : RopeSin;
        RopeSinSlidingNegated = sliding ? Alloc(Capacity * half) : RopeSinNegated;
        var factors = w.RopeFactorsFor(Capacity);
        for (var pos = 0; pos < Capacity; pos++)
        {
            var sin = new Span<float>(RopeSin + ((long)pos * half), half);
            Elementwise.RopeAngles(pos, c.RopeDimensions, c.RopeFreqBase, c.RopeFreqScale, factors, c.RopeAttentionFactor,
                new Span<float>(RopeCos + ((long)pos * half), half), sin);
            TensorPrimitives.Negate(sin, new Span<float>(RopeSinNegated + ((long)pos * half), half));
            if (sliding)
            {
                var sinSliding = new Span<float>(RopeSinSliding + ((long)pos * half), half);
                Elementwise.RopeAngles(pos, c.RopeDimensions, c.RopeFreqBaseSwa, c.RopeFreqScaleSwa, factors, c.RopeAttentionFactor,
                    new Span<float>(RopeCosSliding + ((long)pos * half), half), sinSliding);
                TensorPrimitives.Negate(sinSliding, new Span<float>(RopeSinSlidingNegated + ((long)pos * half), half));
            }
        }

        Keys = new float*[c.LayerCount];
        Values = new float*[c.LayerCount];
        for (var l = 0; l < c.LayerCount; l++)
        {
            Keys[l] = Alloc((long)c.HeadCountKv * Capacity * c.HeadDimension);
            Values[l] = Alloc((long)c.HeadCountKv * Capacity * c.HeadDimension);
        }

        PromptInputs = new float*[c.LayerCount];
        for (var l = 0; l < c.LayerCount; l++)
        {
            PromptInputs[l] = Alloc((long)promptLength * d);
        }

        _scratchTape = new LayerTape(this, maxTokens);
        _tapes = [.. Enumerable.Range(0, c.LayerCount).Select(_ => new LayerTape(this, continuationLength))];
        HeadInput = Alloc(continuationLength * d);
        HeadScale = Alloc(continuationLength);
        Logits = Alloc((long)continuationLength * c.VocabularySize);
        Gradient = Alloc(continuationLength * d);
        PostGradient = Alloc((c.IsGemma ? continuationLength : 0) * d);
        CappedLogitGradient = Alloc(c.FinalSoftcap != 0 ? (long)continuationLength * c.VocabularySize : 0);
        GradientWork = Alloc(continuationLength * Math.Max(d, c.QueryLength));
        _scoreGradients = new float[Capacity];
        _routerScratch = new float[d + routerHidden];
        GateGradients = new float*[c.LayerCount];
        for (var l = 0; l < c.LayerCount; l++)
        {
            GateGradients[l] = Alloc(continuationLength);
        }
    }

    /// <summary>The frozen model.</summary>
    public ModelWeights Weights { get; }

    /// <summary>The largest adapter rank this pass has room for.</summary>
    public int AdapterRank { get; }

    /// <summary>
    /// LoRA adapters applied in every continuation that skips a layer (a gate of 0), as inference applies them in
    /// passes that skip; null for none.
    /// </summary>
    public AdapterSet? Adapters
    {
        get => _adapters;
        set
        {
            if (value is not null && (value.Rank > AdapterRank || !value.Fits(Config)))
            {
                throw new ArgumentException($"adapters of rank {value.Rank} for another shape or above this pass's rank {AdapterRank}", nameof(value));
            }

            _adapters = value;
        }
    }

    /// <summary>Its hyperparameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>Most prompt tokens.</summary>
    public int PromptCapacity { get; }

    /// <summary>Most continuation tokens.</summary>
    public int ContinuationCapacity { get; }

    /// <summary>Positions of the cache.</summary>
    public int Capacity { get; }

    /// <summary>Largest router hidden size token gates can use.</summary>
    public int RouterHidden { get; }

    /// <summary>Tokens of the current prompt.</summary>
    public int PromptLength { get; private set; }

    /// <summary>Tokens of the last continuation.</summary>
    public int ContinuationLength { get; private set; }

    /// <summary>Logits of the last continuation, [ContinuationLength][VocabularySize].</summary>
    public ReadOnlySpan<float> ContinuationLogits => new(Logits, ContinuationLength * Config.VocabularySize);

    /// <summary>dLoss/dgate of every continuation token at <paramref name="layer"/> after <see cref="Backward"/>, [ContinuationLength].</summary>
    public ReadOnlySpan<float> GateGradient(int layer) => new(GateGradients[layer], ContinuationLength);

    /// <summary>The gate of every continuation token at <paramref name="layer"/> in the last pass that kept its tape.</summary>
    public ReadOnlySpan<float> TokenGates(int layer) => new(_tapes[layer].Gates, ContinuationLength);

    /// <summary>The residual entering <paramref name="layer"/> for prompt token <paramref name="t"/>, what the routers read.</summary>
    public ReadOnlySpan<float> PromptInput(int layer, int t) => new(PromptInputs[layer] + ((long)t * Config.EmbeddingLength), Config.EmbeddingLength);

    private float* X { get; }           // [tokens][d] residual stream
    private float* Work { get; }        // [tokens][max(d, qLen)] attention output projection, then FFN output
    private float* Ffn { get; }         // [tokens][ff] SwiGLU output; in backward the gate gradient
    private float* Ffn2 { get; }        // [tokens][ff] in backward the up gradient
    private float* KvWork { get; }      // [2][tokens][kvLen] new keys and values before RoPE and store; in backward their gradients
    private byte* Quantized { get; }    // [tokens][largest activation row]
    private float* RopeCos { get; }     // [capacity][ropeDims / 2]
    private float* RopeSin { get; }     // [capacity][ropeDims / 2]
    private float* RopeSinNegated { get; } // [capacity][ropeDims / 2] the inverse rotation, for the backward pass
    private float* RopeCosSliding { get; } // the same three for the sliding-window layers' base and scale (or the ones above)
    private float* RopeSinSliding { get; }
    private float* RopeSinSlidingNegated { get; }
    private float*[] Keys { get; }      // [layer] → [kvHeads][capacity][headDim], F32
    private float*[] Values { get; }    // [layer] → [kvHeads][capacity][headDim]
    private float*[] PromptInputs { get; } // [layer] → [promptTokens][d]
    private float* HeadInput { get; }   // [continuation][d] residual entering the output norm
    private float* HeadScale { get; }   // [continuation] its 1 / rms
    private float* Logits { get; }      // [continuation][vocabulary]
    private float* Gradient { get; }    // [continuation][d] dLoss/d residual
    private float* PostGradient { get; } // [continuation][d] Gemma: dLoss/d(input of a post norm)
    private float* CappedLogitGradient { get; } // [continuation][vocabulary] dLoss/d(logits before the final soft-cap)
    private float* GradientWork { get; } // [continuation][max(d, qLen)]
    private float*[] GateGradients { get; } // [layer] → [continuation]

    /// <summary>
    /// Runs <paramref name="prompt"/> through every layer (no gates), filling the KV cache of positions
    /// 0..n−1 and keeping each layer's input for the routers.
    /// </summary>
    public void Prompt(ReadOnlySpan<int> prompt)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (prompt.IsEmpty || prompt.Length > PromptCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(prompt), prompt.Length, $"a prompt has 1..{PromptCapacity} tokens");
        }

        var n = prompt.Length;
        Embed(prompt);
        var d = Config.EmbeddingLength;
        _adapting = false; // the prompt runs dense, as inference's prefill does
        for (var l = 0; l < Config.LayerCount; l++)
        {
            new ReadOnlySpan<float>(X, n * d).CopyTo(new Span<float>(PromptInputs[l], n * d));
            LayerForward(l, n, 0, _scratchTape, GateSource.None, null);
        }

        PromptLength = n;
        ContinuationLength = 0;
    }

    /// <summary>
    /// Runs <paramref name="continuation"/> after the prompt with per-layer gates (<paramref name="gates"/>[layer],
    /// 1 = the layer runs as usual, 0 = skipped), or, with <paramref name="tokenRouters"/>, with every routed
    /// layer gated per token by its router. Keeps the tape when <paramref name="keepTape"/>; the logits of every
    /// token are in <see cref="ContinuationLogits"/>.
    /// </summary>
    public void Continue(ReadOnlySpan<int> continuation, ReadOnlySpan<float> gates, RouterSet? tokenRouters, bool keepTape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (PromptLength == 0)
        {
            throw new InvalidOperationException("run a prompt first");
        }

        if (continuation.IsEmpty || continuation.Length > ContinuationCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(continuation), continuation.Length, $"a continuation has 1..{ContinuationCapacity} tokens");
        }

        if (tokenRouters is null && gates.Length != Config.LayerCount)
        {
            throw new ArgumentException($"one gate per layer ({Config.LayerCount})", nameof(gates));
        }

        if (tokenRouters is not null && tokenRouters.Hidden > RouterHidden)
        {
            throw new ArgumentException($"routers of {tokenRouters.Hidden} hidden units; this pass was built for {RouterHidden}", nameof(tokenRouters));
        }

        var n = continuation.Length;
        ContinuationLength = n;
        _adapting = _adapters is not null && tokenRouters is null && gates.Contains(0f);
        Embed(continuation);
        for (var l = 0; l < Config.LayerCount; l++)
        {
            var tape = keepTape ? _tapes[l] : _scratchTape;
            var router = tokenRouters?.Routers[l];
            if (tokenRouters is null)
            {
                new Span<float>(tape.Gates, n).Fill(gates[l]);
                LayerForward(l, n, PromptLength, tape, GateSource.Given, null);
            }
            else
            {
                LayerForward(l, n, PromptLength, tape, router is null ? GateSource.None : GateSource.Router, router);
            }
        }

        // Output head: logits = W_out · RMSNorm(x) ⊙ w.
        var c = Config;
        var d = c.EmbeddingLength;
        var norm = new ReadOnlySpan<float>(Weights.OutputNorm, d);
        for (var t = 0; t < n; t++)
        {
            var x = new ReadOnlySpan<float>(X + ((long)t * d), d);
            x.CopyTo(new Span<float>(HeadInput + ((long)t * d), d));
            HeadScale[t] = Elementwise.RmsNorm(x, norm, c.RmsEpsilon, new Span<float>(Work + ((long)t * d), d));
        }

        MatMul.Multiply(Weights.Output, Work, d, n, Quantized, Logits, c.VocabularySize, _pool);
        Transformer.Softcap(Logits, (long)n * c.VocabularySize, c.FinalSoftcap);
    }

    /// <summary>Where a layer's gates come from.</summary>
    private enum GateSource
    {
        None,
        Given,
        Router,
    }

    private void Embed(ReadOnlySpan<int> tokens)
    {
        var d = Config.EmbeddingLength;
        var e = Weights.TokenEmbedding;
        for (var t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)Config.VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[t], $"token {tokens[t]} is outside the vocabulary of {Config.VocabularySize}");
            }

            e.Format.Dequantize(e.Data + ((long)tokens[t] * e.RowBytes), X + ((long)t * d), d);
        }

        if (Config.IsGemma)
        {
            Elementwise.Scale(new Span<float>(X, tokens.Length * d), Config.EmbeddingScale);
        }
    }

    /// <summary>One block on n tokens at positions start.., in place on <see cref="X"/>, recording into <paramref name="tape"/>.</summary>
    private void LayerForward(int layer, int n, int start, LayerTape tape, GateSource gates, Router? router)
    {
        var c = Config;
        var lw = Weights.Layers[layer];
        var d = c.EmbeddingLength;
        var qLen = c.QueryLength;
        var kvLen = c.KvLength;
        var ff = c.FeedForwardLength;

        new ReadOnlySpan<float>(X, n * d).CopyTo(new Span<float>(tape.X, n * d));
        if (gates == GateSource.Router)
        {
            for (var t = 0; t < n; t++)
            {
                var saved = new Span<float>(tape.RouterSaved + ((long)t * tape.RouterStride), router!.ScratchLength);
                tape.Gates[t] = router.Forward(new ReadOnlySpan<float>(X + ((long)t * d), d), saved);
            }
        }
        else if (gates == GateSource.None)
        {
            new Span<float>(tape.Gates, n).Fill(1f);
        }

        // Attention block.
        var attentionNorm = new ReadOnlySpan<float>(lw.AttentionNorm, d);
        for (var t = 0; t < n; t++)
        {
            tape.Scale1[t] = Elementwise.RmsNorm(new ReadOnlySpan<float>(X + ((long)t * d), d), attentionNorm, c.RmsEpsilon, new Span<float>(tape.Normed1 + ((long)t * d), d));
        }

        var newKeys = KvWork;                      // [n][kvLen]
        var newValues = KvWork + ((long)n * kvLen); // [n][kvLen]
        MatMul.Multiply(lw.Query, tape.Normed1, d, n, Quantized, tape.Q, qLen, _pool);
        MatMul.Multiply(lw.Key, tape.Normed1, d, n, Quantized, newKeys, kvLen, _pool);
        MatMul.Multiply(lw.Value, tape.Normed1, d, n, Quantized, newValues, kvLen, _pool);
        Transformer.AddBias(tape.Q, lw.QueryBias, n, qLen);
        Transformer.AddBias(newKeys, lw.KeyBias, n, kvLen);
        Transformer.AddBias(newValues, lw.ValueBias, n, kvLen);
        var hd = c.HeadDimension;
        // Qwen3, Gemma 3: each head's query and key RMS-normalised before RoPE.
        NormRows(lw.QueryNorm, tape.Q, tape.QRaw, tape.QScale, n * c.HeadCount, hd);
        NormRows(lw.KeyNorm, newKeys, tape.KRaw, tape.KScale, n * c.HeadCountKv, hd);

        for (var t = 0; t < n; t++)
        {
            var pos = start + t;
            for (var h = 0; h < c.HeadCount; h++)
            {
                Rotate(tape.Q + ((long)t * qLen) + (h * hd), pos, inverse: false, c.IsSliding(layer));
            }

            for (var g = 0; g < c.HeadCountKv; g++)
            {
                var k = newKeys + ((long)t * kvLen) + (g * hd);
                Rotate(k, pos, inverse: false, c.IsSliding(layer));
                var slot = (((long)g * Capacity) + pos) * hd;
                new ReadOnlySpan<float>(k, hd).CopyTo(new Span<float>(Keys[layer] + slot, hd));
                new ReadOnlySpan<float>(newValues + ((long)t * kvLen) + (g * hd), hd).CopyTo(new Span<float>(Values[layer] + slot, hd));
            }
        }

        Attend(layer, n, start, tape);
        var projected = Work; // [n][d]
        MatMul.Multiply(lw.Output, tape.Attended, qLen, n, Quantized, projected, d, _pool);
        var adapter = _adapting ? _adapters!.Layers[layer] : null;
        if (adapter is not null)
        {
            AdapterSet.Apply(adapter.OutputA, adapter.OutputB, _adapters!.Rank, _adapters.Scale, tape.Attended, qLen, projected, d, n, tape.OutputLow);
        }

        // Gemma: the attention block's output is RMS-normalised before the residual.
        NormRows(lw.PostAttentionNorm, projected, tape.PostAttentionInput, tape.PostAttentionScale, n, d);

        TensorPrimitives.Add(new ReadOnlySpan<float>(X, n * d), new ReadOnlySpan<float>(projected, n * d), new Span<float>(tape.X2, n * d));

        // Feed-forward block.
        var ffnNorm = new ReadOnlySpan<float>(lw.FeedForwardNorm, d);
        for (var t = 0; t < n; t++)
        {
            tape.Scale2[t] = Elementwise.RmsNorm(new ReadOnlySpan<float>(tape.X2 + ((long)t * d), d), ffnNorm, c.RmsEpsilon, new Span<float>(tape.Normed2 + ((long)t * d), d));
        }

        MatMul.Multiply(lw.Gate, tape.Normed2, d, n, Quantized, tape.GateValues, ff, _pool);
        MatMul.Multiply(lw.Up, tape.Normed2, d, n, Quantized, tape.UpValues, ff, _pool);
        var all = n * ff;
        Activate(tape, all, Ffn);

        // delta = attention output + FFN output = Layer(x) − x; x ← x + gate · delta.
        var delta = tape.Delta;
        MatMul.Multiply(lw.Down, Ffn, ff, n, Quantized, delta, d, _pool);
        if (adapter is not null)
        {
            AdapterSet.Apply(adapter.DownA, adapter.DownB, _adapters!.Rank, _adapters.Scale, Ffn, ff, delta, d, n, tape.DownLow);
        }

        NormRows(lw.PostFeedForwardNorm, delta, tape.PostFeedForwardInput, tape.PostFeedForwardScale, n, d);

        TensorPrimitives.Add(new ReadOnlySpan<float>(delta, n * d), new ReadOnlySpan<float>(projected, n * d), new Span<float>(delta, n * d));
        for (var t = 0; t < n; t++)
        {
            var x = new Span<float>(X + ((long)t * d), d);
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(delta + ((long)t * d), d), tape.Gates[t], x, x);
        }
    }

    /// <summary>Causal softmax attention of the n new tokens over positions 0..start+t, keeping the probabilities.</summary>
    private void Attend(int layer, int n, int start, LayerTape tape)
    {
        var c = Config;
        var hd = c.HeadDimension;
        var qLen = c.QueryLength;
        var group = c.HeadCount / c.HeadCountKv;
        var scale = ScoreScale;
        var cap = c.AttentionSoftcap;
        var window = c.IsSliding(layer) ? c.SlidingWindow : 0;
        for (var t = 0; t < n; t++)
        {
            var visible = start + t + 1;
            var first = window > 0 ? Math.Max(0, visible - window) : 0;
            for (var h = 0; h < c.HeadCount; h++)
            {
                var g = h / group;
                var q = new ReadOnlySpan<float>(tape.Q + ((long)t * qLen) + (h * hd), hd);
                var p = new Span<float>(tape.Probabilities + ((((long)t * c.HeadCount) + h) * Capacity), visible);
                var keys = Keys[layer] + ((long)g * Capacity * hd);
                p[..first].Clear(); // before the sliding window: probability 0
                for (var j = first; j < visible; j++)
                {
                    var s = scale * TensorPrimitives.Dot(q, new ReadOnlySpan<float>(keys + ((long)j * hd), hd));
                    p[j] = cap != 0 ? cap * MathF.Tanh(s / cap) : s;
                }

                Elementwise.Softmax(p[first..]);
                var o = new Span<float>(tape.Attended + ((long)t * qLen) + (h * hd), hd);
                o.Clear();
                var values = Values[layer] + ((long)g * Capacity * hd);
                for (var j = 0; j < visible; j++)
                {
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + ((long)j * hd), hd), p[j], o, o);
                }
            }
        }
    }

    /// <summary>
    /// A norm an architecture may have (none where <paramref name="weight"/> is null): <paramref name="count"/> rows of
    /// <paramref name="width"/> become RMSNorm(row) ⊙ weight, their previous values going to <paramref name="input"/> and each
    /// row's 1 / rms to <paramref name="scales"/> for the backward pass. Gemma's norms after a block, and the per-head query
    /// and key norms of Qwen3 and Gemma 3.
    /// </summary>
    private void NormRows(float* weight, float* rows, float* input, float* scales, int count, int width)
    {
        if (weight == null)
        {
            return;
        }

        new ReadOnlySpan<float>(rows, count * width).CopyTo(new Span<float>(input, count * width));
        var w = new ReadOnlySpan<float>(weight, width);
        for (var i = 0; i < count; i++)
        {
            scales[i] = Elementwise.RmsNorm(new ReadOnlySpan<float>(input + ((long)i * width), width), w, Config.RmsEpsilon, new Span<float>(rows + ((long)i * width), width));
        }
    }

    /// <summary>The factor of q·k in a score: the queries' own scale (Gemma, Phi-3) times the attention's.</summary>
    private float ScoreScale => Config.QueryScale * Config.AttentionScale;

    /// <summary>
    /// The feed-forward activation of the tape's gate and up values into <paramref name="y"/>: SwiGLU, or for Gemma GEGLU
    /// with the tanh-form GELU itself (smooth, for gradients; inference looks it up in ggml's half table).
    /// </summary>
    private void Activate(LayerTape tape, int all, float* y)
    {
        if (!Config.IsGemma)
        {
            Elementwise.SwiGlu(new ReadOnlySpan<float>(tape.GateValues, all), new ReadOnlySpan<float>(tape.UpValues, all), new Span<float>(y, all), Config.FeedForwardLength);
            return;
        }

        for (var i = 0; i < all; i++)
        {
            y[i] = Gelu(tape.GateValues[i]) * tape.UpValues[i];
        }
    }

    /// <summary>GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    internal static float Gelu(float x) => 0.5f * x * (1f + MathF.Tanh(GeluK * x * (1f + (0.044715f * x * x))));

    /// <summary>d GELU / dx of the tanh form.</summary>
    internal static float GeluDerivative(float x)
    {
        var u = GeluK * x * (1f + (0.044715f * x * x));
        var t = MathF.Tanh(u);
        return (0.5f * (1f + t)) + (0.5f * x * (1f - (t * t)) * GeluK * (1f + (3f * 0.044715f * x * x)));
    }

    private const float GeluK = 0.79788456080286535587989211986876f;

    /// <summary>RoPE of one head at <paramref name="pos"/>, or its inverse (the transpose of the rotation), with a sliding-window layer's angles where <paramref name="sliding"/>.</summary>
    private void Rotate(float* head, int pos, bool inverse, bool sliding)
    {
        var half = Config.RopeDimensions / 2;
        var cos = new ReadOnlySpan<float>((sliding ? RopeCosSliding : RopeCos) + ((long)pos * half), half);
        var sin = new ReadOnlySpan<float>((sliding ? (inverse ? RopeSinSlidingNegated : RopeSinSliding) : (inverse ? RopeSinNegated : RopeSin)) + ((long)pos * half), half);
        Elementwise.Rope(new Span<float>(head, Config.HeadDimension), cos, sin, Config.RopeNeox);
    }

    private float* Alloc(long count)
    {
        var bytes = (nuint)(Math.Max(count, 1) * sizeof(float));
        var p = NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(p, bytes);
        _buffers.Add((nint)p);
        return (float*)p;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _pool.Dispose();
        foreach (var p in _buffers)
        {
            NativeMemory.AlignedFree((void*)p);
        }
    }

    /// <summary>What one layer's forward pass keeps for the backward pass, for up to a given number of tokens.</summary>
    private sealed class LayerTape
    {
        public LayerTape(GatedTransformer owner, int tokens)
        {
            var c = owner.Config;
            var d = c.EmbeddingLength;
            X = owner.Alloc(tokens * d);
            Scale1 = owner.Alloc(tokens);
            Normed1 = owner.Alloc(tokens * d);
            Q = owner.Alloc(tokens * c.QueryLength);
            var qkNorm = c.HasQkNorm ? 1 : 0;
            QRaw = owner.Alloc(qkNorm * tokens * c.QueryLength);
            KRaw = owner.Alloc(qkNorm * tokens * c.KvLength);
            QScale = owner.Alloc(qkNorm * tokens * c.HeadCount);
            KScale = owner.Alloc(qkNorm * tokens * c.HeadCountKv);
            Probabilities = owner.Alloc((long)tokens * c.HeadCount * owner.Capacity);
            Attended = owner.Alloc(tokens * c.QueryLength);
            X2 = owner.Alloc(tokens * d);
            var post = c.IsGemma ? 1 : 0;
            PostAttentionInput = owner.Alloc(post * tokens * d);
            PostAttentionScale = owner.Alloc(post * tokens);
            PostFeedForwardInput = owner.Alloc(post * tokens * d);
            PostFeedForwardScale = owner.Alloc(post * tokens);
            Scale2 = owner.Alloc(tokens);
            Normed2 = owner.Alloc(tokens * d);
            GateValues = owner.Alloc((long)tokens * c.FeedForwardLength);
            UpValues = owner.Alloc((long)tokens * c.FeedForwardLength);
            Delta = owner.Alloc(tokens * d);
            Gates = owner.Alloc(tokens);
            RouterStride = d + owner.RouterHidden;
            RouterSaved = owner.Alloc((long)tokens * RouterStride);
            OutputLow = owner.Alloc((long)tokens * Math.Max(owner.AdapterRank, 1));
            DownLow = owner.Alloc((long)tokens * Math.Max(owner.AdapterRank, 1));
        }

        public float* X { get; }             // [tokens][d] layer input
        public float* Scale1 { get; }        // [tokens] 1 / rms(X)
        public float* Normed1 { get; }       // [tokens][d] attention norm output
        public float* Q { get; }             // [tokens][qLen] queries after RoPE
        public float* QRaw { get; }          // [tokens][qLen] queries before the per-head norm (qwen3)
        public float* KRaw { get; }          // [tokens][kvLen] new keys before the per-head norm (qwen3)
        public float* QScale { get; }        // [tokens][heads] 1 / rms of each query head (qwen3)
        public float* KScale { get; }        // [tokens][kvHeads] 1 / rms of each key head (qwen3)
        public float* Probabilities { get; } // [tokens][heads][capacity] attention weights
        public float* Attended { get; }      // [tokens][qLen] attention output before the output projection
        public float* X2 { get; }            // [tokens][d] X + attention output
        public float* PostAttentionInput { get; }   // [tokens][d] before the post-attention norm (Gemma)
        public float* PostAttentionScale { get; }   // [tokens] its 1 / rms
        public float* PostFeedForwardInput { get; } // [tokens][d] before the post-FFN norm (Gemma)
        public float* PostFeedForwardScale { get; } // [tokens] its 1 / rms
        public float* Scale2 { get; }        // [tokens] 1 / rms(X2)
        public float* Normed2 { get; }       // [tokens][d] FFN norm output
        public float* GateValues { get; }    // [tokens][ff] W_gate · Normed2
        public float* UpValues { get; }      // [tokens][ff] W_up · Normed2
        public float* Delta { get; }         // [tokens][d] Layer(X) − X
        public float* Gates { get; }         // [tokens] the gate of each token
        public float* RouterSaved { get; }   // [tokens][RouterStride] what Router.Forward left (token gates)
        public int RouterStride { get; }
        public float* OutputLow { get; }     // [tokens][rank] A_o · Attended (adapters)
        public float* DownLow { get; }       // [tokens][rank] A_d · SwiGLU output (adapters)
    }
}
