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
    private bool _disposed;

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
        var quantBytes = weights.Layers
            .SelectMany(l => new[] { l.Query, l.Key, l.Value, l.Output, l.Gate, l.Up, l.Down })
            .Append(weights.Output)
            .Max(m => (long)m.ActivationRowBytes);
        Quantized = Alloc<byte>(quantBytes * b);
        AttentionScratch = Alloc<float>((long)Pool.Threads * Attention.ScratchFloats(ContextLength, c.HeadDimension));
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

    internal byte* Quantized { get; }   // [batch][largest activation row]

    internal float* AttentionScratch { get; } // [threads][Attention.ScratchFloats]

    /// <summary>Forgets the sequence (the cache is overwritten from position 0); plans go back to dense.</summary>
    public void Reset()
    {
        Position = 0;
        DecodePlan = LayerPlan.Dense(Config.LayerCount);
        PrefillPlan = DecodePlan;
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
        Evaluate(tokens, PrefillPlan, null);
        return Logits;
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

        fixed (int* ids = tokens)
        {
            for (var start = 0; start < tokens.Length; start += BatchSize)
            {
                var n = Math.Min(BatchSize, tokens.Length - start);
                var logits = allLogits == null ? null : allLogits + ((long)start * Config.VocabularySize);
                Transformer.Forward(this, ids + start, n, Position, plan, logits);
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
