using System.Runtime.InteropServices;
using First.Cpu.Kernels;

namespace First.Cpu.Model;

/// <summary>Options of a <see cref="Session"/>.</summary>
public sealed record SessionOptions
{
    /// <summary>Positions the KV cache holds; 0 takes the model's trained context, capped at 4096 (llama.cpp's default).</summary>
    public int ContextLength { get; init; }

    /// <summary>Tokens per prefill forward pass (llama.cpp's ubatch).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Threads, the caller's included.</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>KV cache element type.</summary>
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;
}

/// <summary>A prompt plus the cache does not fit the context.</summary>
public sealed class ContextOverflowException(string message) : Exception(message);

/// <summary>
/// One sequence's state: the KV cache, every activation buffer (preallocated, so a decode step allocates
/// nothing), its worker pool and its <see cref="LayerPlan"/>. Not thread-safe; many sessions may share one
/// <see cref="ModelWeights"/> from different threads.
/// </summary>
public sealed unsafe class Session : IDisposable
{
    private readonly List<nint> _buffers = [];
    private Routing.AdapterSet? _adapters;
    private int _adapterRank;
    private bool _disposed;
    private Routing.RouterSet? _routers;
    private double[] _routerSums = [];
    private float[] _routerScratch = [];
    private int _routerTokens;
    private bool _routing;

    /// <summary>A session over <paramref name="weights"/>.</summary>
    public Session(ModelWeights weights, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        options ??= new SessionOptions();
        Weights = weights;
        var c = weights.Config;
        Config = c;
        ContextLength = options.ContextLength > 0 ? options.ContextLength : Math.Min(c.TrainedContextLength, 4096);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize);
        BatchSize = Math.Min(options.BatchSize, ContextLength);
        Pool = new WorkerPool(options.Threads);
        Cache = new KvCache(c, ContextLength, options.KvCacheType);
        DecodePlan = LayerPlan.Dense(c.LayerCount);
        PrefillPlan = DecodePlan;

        var b = BatchSize;
        X = Alloc<float>((long)b * c.EmbeddingLength);
        Normed = Alloc<float>((long)b * c.EmbeddingLength);
        Q = Alloc<float>((long)b * c.QueryLength);
        K = Alloc<float>((long)b * c.KvLength);
        V = Alloc<float>((long)b * c.KvLength);
        Attended = Alloc<float>((long)b * c.QueryLength);
        Gate = Alloc<float>((long)b * c.FeedForwardLength);
        Up = Alloc<float>((long)b * c.FeedForwardLength);
        LogitsBuffer = Alloc<float>(c.VocabularySize);
        RopeCos = Alloc<float>((long)b * (c.RopeDimensions / 2));
        RopeSin = Alloc<float>((long)b * (c.RopeDimensions / 2));
        RopeCosSliding = c.HasSlidingRope ? Alloc<float>((long)b * (c.RopeDimensions / 2)) : RopeCos;
        RopeSinSliding = c.HasSlidingRope ? Alloc<float>((long)b * (c.RopeDimensions / 2)) : RopeSin;
        var quantBytes = weights.Layers
            .SelectMany(l => new[] { l.Query, l.Key, l.Value, l.Output, l.Gate, l.Up, l.Down })
            .Append(weights.Output)
            .Max(m => (long)m.ActivationRowBytes);
        Quantized = Alloc<byte>(quantBytes * b);
        AttentionScratch = Alloc<float>((long)Pool.Threads * Attention.ScratchFloats(ContextLength, c.HeadDimension));
        AttentionPartials = Alloc<float>(Attention.PartialFloats(c.HeadCount, Pool.Threads, c.HeadDimension));
    }

    /// <summary>The weights.</summary>
    public ModelWeights Weights { get; }

    /// <summary>The hyperparameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>Positions the cache holds.</summary>
    public int ContextLength { get; }

    /// <summary>Tokens per prefill pass.</summary>
    public int BatchSize { get; }

    /// <summary>Tokens in the cache: the position of the next token.</summary>
    public int Position { get; private set; }

    /// <summary>The layers decode runs (dense unless FiRST or the caller decided otherwise).</summary>
    public LayerPlan DecodePlan { get; set; }

    /// <summary>The layers prefill runs (dense by default: every layer's KV cache is filled).</summary>
    public LayerPlan PrefillPlan { get; set; }

    /// <summary>The KV cache.</summary>
    public KvCache Cache { get; }

    /// <summary>
    /// FiRST routers: when set, prefill from position 0 scores every prompt token at every routed layer and
    /// sets <see cref="DecodePlan"/> from the mean scores (and, with SkipInPrefill, skips during prefill too).
    /// </summary>
    public Routing.RouterSet? Routers
    {
        get => _routers;
        set
        {
            if (value is not null && (value.LayerCount != Config.LayerCount || value.Embedding != Config.EmbeddingLength))
            {
                throw new ArgumentException($"routers for {value.LayerCount} layers of width {value.Embedding} do not fit this model ({Config.LayerCount} × {Config.EmbeddingLength})", nameof(value));
            }

            _routers = value;
            _routerSums = new double[Config.LayerCount];
            _routerScratch = new float[Config.EmbeddingLength + (value?.Hidden ?? 0) + 1];
            RouterMeans = [.. Enumerable.Repeat(float.NaN, Config.LayerCount)];
        }
    }

    /// <summary>
    /// LoRA adapters (FiRST's second stage, trained for the routers' decisions): applied in every forward pass whose plan
    /// skips a layer, never in a dense one. Null: none.
    /// </summary>
    public Routing.AdapterSet? Adapters
    {
        get => _adapters;
        set
        {
            var c = Config;
            if (value is not null && !value.Fits(c))
            {
                throw new ArgumentException($"adapters for {value.LayerCount} layers of width {value.Embedding} do not fit this model ({c.LayerCount} × {c.EmbeddingLength})", nameof(value));
            }

            if (value is not null && value.Rank > _adapterRank)
            {
                AdapterLow = Alloc<float>((long)BatchSize * value.Rank);
                _adapterRank = value.Rank;
            }

            _adapters = value;
        }
    }

    /// <summary>The adapters a forward pass with <paramref name="plan"/> applies: <see cref="Adapters"/> when it skips a layer, else none.</summary>
    public Routing.AdapterSet? AdaptersFor(LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.SkippedCount > 0 ? _adapters : null;
    }

    /// <summary>[batch][rank] scratch of the adapters (A·x).</summary>
    internal float* AdapterLow { get; private set; }

    /// <summary>How scores become decisions.</summary>
    public Routing.RoutingOptions RoutingOptions { get; set; } = new();

    /// <summary>Each layer's mean router score over the last prompt (NaN for unrouted layers).</summary>
    public IReadOnlyList<float> RouterMeans { get; private set; } = [];

    /// <summary>Seconds the routers took in the last prefill (their whole cost: they do not run at decode).</summary>
    public double RouterSeconds { get; private set; }

    /// <summary>The logits of the last token evaluated, [VocabularySize].</summary>
    public ReadOnlySpan<float> Logits => new(LogitsBuffer, Config.VocabularySize);

    internal WorkerPool Pool { get; }

    internal float* X { get; }          // [batch][embedding] residual stream

    internal float* Normed { get; }     // [batch][embedding] normed input / projection output

    internal float* Q { get; }          // [batch][heads · headDim]

    internal float* K { get; }          // [batch][kvHeads · headDim]

    internal float* V { get; }          // [batch][kvHeads · headDim]

    internal float* Attended { get; }   // [batch][heads · headDim]

    internal float* Gate { get; }       // [batch][feedForward]

    internal float* Up { get; }         // [batch][feedForward]

    internal float* LogitsBuffer { get; } // [vocabulary]

    internal float* RopeCos { get; }    // [batch][ropeDims / 2] angles of the batch's positions, shared by every layer and head

    internal float* RopeSin { get; }    // [batch][ropeDims / 2]

    internal float* RopeCosSliding { get; } // [batch][ropeDims / 2] with the sliding-window layers' base and scale (or RopeCos)

    internal float* RopeSinSliding { get; } // [batch][ropeDims / 2]

    internal byte* Quantized { get; }   // [batch][largest activation row]

    internal float* AttentionScratch { get; } // [threads][Attention.ScratchFloats]

    internal float* AttentionPartials { get; } // [threads][heads · headDim + 2 · heads]: the split-KV path's chunks

    /// <summary>
    /// Forgets the sequence (the cache is overwritten from position 0) and gives released layers their cache
    /// back. The plans stay: a forced plan holds for the next sequence too, and routers decide anew at prefill.
    /// </summary>
    public void Reset()
    {
        Position = 0;
        for (var l = 0; l < Config.LayerCount; l++)
        {
            Cache.Restore(l);
        }
    }

    /// <summary>
    /// Gives back the KV cache of every layer <see cref="DecodePlan"/> skips: those layers never run again in
    /// this sequence (FiRST decides once per sequence, at prefill). <see cref="Reset"/> restores them.
    /// </summary>
    public void ReleaseSkippedLayers()
    {
        for (var l = 0; l < Config.LayerCount; l++)
        {
            if (!DecodePlan.Runs(l))
            {
                Cache.Release(l);
            }
        }
    }

    /// <summary>Forgets every position from <paramref name="position"/> on (the next token goes there); plans stay.</summary>
    public void Truncate(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, Position);
        Position = position;
    }

    /// <summary>Evaluates <paramref name="tokens"/> at the current position, in batches, with <see cref="PrefillPlan"/>; returns the last token's logits.</summary>
    /// <exception cref="ContextOverflowException">The tokens do not fit in what is left of the context.</exception>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
    {
        _routing = _routers is not null && Position == 0;
        if (_routing)
        {
            RoutingOptions.Validate(_routers!);
            Array.Clear(_routerSums);
            _routerTokens = 0;
            RouterSeconds = 0;
            if (RoutingOptions.SkipInPrefill)
            {
                PrefillPlan = LayerPlan.Dense(Config.LayerCount);
            }
        }

        try
        {
            Evaluate(tokens, PrefillPlan, null);
        }
        finally
        {
            if (_routing)
            {
                _routing = false;
                var means = new float[Config.LayerCount];
                for (var l = 0; l < means.Length; l++)
                {
                    means[l] = _routers!.Routers[l] is null || _routerTokens == 0 ? float.NaN : (float)(_routerSums[l] / _routerTokens);
                }

                RouterMeans = means;
                DecodePlan = RoutingOptions.SkipInPrefill ? PrefillPlan : Routing.RoutingDecision.Decide(_routers!, means, RoutingOptions);
            }
        }

        return Logits;
    }

    /// <summary>
    /// Called by the forward pass before layer <paramref name="layer"/> on <paramref name="n"/> tokens of a routed
    /// prefill: scores them; returns whether the layer is to be skipped now (SkipInPrefill, decided on the
    /// prompt's first batch).
    /// </summary>
    internal bool Route(int layer, int n, int start)
    {
        var router = _routing ? _routers!.Routers[layer] : null;
        if (router is null)
        {
            return false;
        }

        var clock = System.Diagnostics.Stopwatch.GetTimestamp();
        var d = Config.EmbeddingLength;
        for (var t = 0; t < n; t++)
        {
            _routerSums[layer] += router.Score(new ReadOnlySpan<float>(X + ((long)t * d), d), _routerScratch);
        }

        if (layer == _routers!.RoutedLayers[0])
        {
            _routerTokens += n;
        }

        RouterSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(clock).TotalSeconds;
        if (!RoutingOptions.SkipInPrefill)
        {
            return false;
        }

        if (start == 0)
        {
            var mean = _routerSums[layer] / n;
            var skipped = PrefillPlan.SkippedCount;
            if (mean < RoutingOptions.Tau && (RoutingOptions.MaxSkip is not { } max || skipped < max))
            {
                PrefillPlan = LayerPlan.Skipping(Config.LayerCount, [.. PrefillPlan.Skipped, layer]);
            }
        }

        return !PrefillPlan.Runs(layer);
    }

    /// <summary>Evaluates one token with <see cref="DecodePlan"/> and returns its logits. Allocates nothing.</summary>
    /// <exception cref="ContextOverflowException">The context is full.</exception>
    public ReadOnlySpan<float> Decode(int token)
    {
        Evaluate([token], DecodePlan, null);
        return Logits;
    }

    /// <summary>
    /// Evaluates <paramref name="tokens"/> with <see cref="PrefillPlan"/> and writes every token's logits into
    /// <paramref name="logits"/>, [tokens][VocabularySize] (for perplexity).
    /// </summary>
    public void EvaluateAll(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (logits.Length < (long)tokens.Length * Config.VocabularySize)
        {
            throw new ArgumentException($"logits need {(long)tokens.Length * Config.VocabularySize} floats", nameof(logits));
        }

        fixed (float* l = logits)
        {
            Evaluate(tokens, PrefillPlan, l);
        }
    }

    private void Evaluate(ReadOnlySpan<int> tokens, LayerPlan plan, float* allLogits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tokens.IsEmpty)
        {
            return;
        }

        if (Position + tokens.Length > ContextLength)
        {
            throw new ContextOverflowException(
                $"{tokens.Length} tokens at position {Position} exceed the context of {ContextLength} tokens");
        }

        foreach (var t in tokens)
        {
            if ((uint)t >= (uint)Config.VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token {t} is outside the vocabulary of {Config.VocabularySize}");
            }
        }

        // One call is one llama_decode: its ubatches of 64 tokens or more are attended by ggml's tiled kernel.
        var tiled = Attention.TiledTokens(tokens.Length, ContextLength);
        fixed (int* ids = tokens)
        {
            for (var start = 0; start < tokens.Length; start += BatchSize)
            {
                var n = Math.Min(BatchSize, tokens.Length - start);
                var logits = allLogits == null ? null : allLogits + ((long)start * Config.VocabularySize);
                Transformer.Forward(this, ids + start, n, Position, Math.Clamp(tiled - start, 0, n), plan, logits);
                Position += n;
            }
        }
    }

    private T* Alloc<T>(long count)
        where T : unmanaged
    {
        var p = NativeMemory.AlignedAlloc((nuint)(Math.Max(count, 1) * sizeof(T)), 64);
        _buffers.Add((nint)p);
        return (T*)p;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Pool.Dispose();
        Cache.Dispose();
        foreach (var p in _buffers)
        {
            NativeMemory.AlignedFree((void*)p);
        }
    }
}
