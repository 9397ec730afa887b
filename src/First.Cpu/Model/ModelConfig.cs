using First.Gguf;

namespace First.Cpu.Model;

/// <summary>The architectures the forward pass knows.</summary>
public enum Architecture
{
    /// <summary>Llama 1/2/3, TinyLlama, llama2.c stories, SmolLM, Mistral: RoPE on adjacent pairs, no biases.</summary>
    Llama,

    /// <summary>Qwen2: NeoX RoPE (halves), biases on Q, K and V.</summary>
    Qwen2,

    /// <summary>
    /// Qwen3: NeoX RoPE, no biases, each head's query and key RMS-normalised with its own weight before RoPE
    /// (llama.cpp's src/models/qwen3.cpp); the head size is its own key (128 on Qwen3-0.6B, whose n_embd / n_head is 64).
    /// </summary>
    Qwen3,

    /// <summary>
    /// Gemma 2 (llama.cpp's src/models/gemma2.cpp): embeddings × √n_embd, NeoX RoPE, queries scaled after RoPE, attention
    /// scores soft-capped (tanh), norms after attention and after the feed-forward network, GEGLU, a sliding window on
    /// every other layer, final logits soft-capped; the output is the token embedding.
    /// </summary>
    Gemma2,

    /// <summary>
    /// Gemma 3 (src/models/gemma3.cpp): as Gemma 2 with per-head query and key norms instead of the attention soft-cap,
    /// five sliding-window layers of every six with their own RoPE base, and final soft-capping only when the file asks.
    /// </summary>
    Gemma3,

    /// <summary>
    /// Phi-3 and Phi-4-mini (src/models/phi3.cpp): Q, K and V in one fused matrix, gate and up in one (ffn_up of twice the
    /// width), NeoX RoPE over the first rope.dimension_count values with LongRoPE factors (long beyond the original
    /// context) and an attention factor on cos and sin, queries scaled after RoPE.
    /// </summary>
    Phi3,
}

/// <summary>
/// A model's hyperparameters, all read from the GGUF metadata under the <c>{arch}.</c> prefix
/// (llama.cpp's llama-arch.cpp key names); nothing is guessed from tensor shapes except the vocabulary
/// size when the file does not say it.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The architecture.</summary>
    public required Architecture Architecture { get; init; }

    /// <summary>The architecture's name as the file spells it.</summary>
    public required string ArchitectureName { get; init; }

    /// <summary>Width of the residual stream.</summary>
    public required int EmbeddingLength { get; init; }

    /// <summary>Transformer blocks.</summary>
    public required int LayerCount { get; init; }

    /// <summary>Hidden size of the feed-forward network.</summary>
    public required int FeedForwardLength { get; init; }

    /// <summary>Query heads.</summary>
    public required int HeadCount { get; init; }

    /// <summary>Key/value heads (grouped-query attention when fewer than <see cref="HeadCount"/>).</summary>
    public required int HeadCountKv { get; init; }

    /// <summary>Values per head.</summary>
    public required int HeadDimension { get; init; }

    /// <summary>Tokens in the vocabulary (rows of the embedding).</summary>
    public required int VocabularySize { get; init; }

    /// <summary>The context the model was trained with.</summary>
    public required int TrainedContextLength { get; init; }

    /// <summary>RMSNorm epsilon.</summary>
    public required float RmsEpsilon { get; init; }

    /// <summary>RoPE frequency base (theta).</summary>
    public required float RopeFreqBase { get; init; }

    /// <summary>Dimensions of each head that RoPE rotates.</summary>
    public required int RopeDimensions { get; init; }

    /// <summary>Position scale: 1 / the linear scaling factor (llama.cpp's freq_scale).</summary>
    public required float RopeFreqScale { get; init; }

    /// <summary>Whether RoPE rotates the two halves of a head (NeoX) instead of adjacent pairs.</summary>
    public bool RopeNeox => Architecture is Architecture.Qwen2 or Architecture.Qwen3 or Architecture.Gemma2 or Architecture.Gemma3 or Architecture.Phi3;

    /// <summary>Whether this is a Gemma: scaled embeddings, post norms, GEGLU, queries scaled before attention.</summary>
    public bool IsGemma => Architecture is Architecture.Gemma2 or Architecture.Gemma3;

    /// <summary>Factor of the embeddings (Gemma: √n_embd as a float, ggml_scale in the graph), else 1.</summary>
    public float EmbeddingScale => IsGemma ? MathF.Sqrt(EmbeddingLength) : 1f;

    /// <summary>
    /// Factor of the queries after RoPE (Gemma's f_attention_scale: 1/√head size, or 1/√(n_embd / n_head) in integers
    /// for the 27B models), else 1.
    /// </summary>
    public float QueryScale { get; init; } = 1f;

    /// <summary>The attention's own score scale: 1 for Gemma and Phi-3 (their queries are scaled), else 1/√head size.</summary>
    public float AttentionScale => IsGemma || Architecture == Architecture.Phi3 ? 1f : 1f / MathF.Sqrt(HeadDimension);

    /// <summary>Factor of RoPE's cos and sin (rope.scaling.attn_factor, llama.cpp's yarn_attn_factor without YaRN), else 1.</summary>
    public float RopeAttentionFactor { get; init; } = 1f;

    /// <summary>The context RoPE was trained at before extension (rope.scaling.original_context_length, else the trained context).</summary>
    public int OriginalContextLength { get; init; }

    /// <summary>Attention scores become cap·tanh(s / cap) (Gemma 2's attn_logit_softcapping); 0 for none.</summary>
    public float AttentionSoftcap { get; init; }

    /// <summary>Logits become cap·tanh(l · (1 / cap)) (final_logit_softcapping); 0 for none.</summary>
    public float FinalSoftcap { get; init; }

    /// <summary>Positions a sliding-window layer sees, the token's own included (attention.sliding_window); 0 for none.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Per layer, whether it attends through the sliding window (llama_hparams::is_swa).</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];

    /// <summary>RoPE base of the sliding-window layers (rope.freq_base_swa).</summary>
    public float RopeFreqBaseSwa { get; init; }

    /// <summary>RoPE position scale of the sliding-window layers.</summary>
    public float RopeFreqScaleSwa { get; init; } = 1f;

    /// <summary>Whether layer <paramref name="layer"/> attends through the sliding window.</summary>
    public bool IsSliding(int layer) => SlidingWindow > 0 && layer < SlidingLayers.Count && SlidingLayers[layer];

    /// <summary>Whether some layer rotates with another base or scale than <see cref="RopeFreqBase"/> and <see cref="RopeFreqScale"/>.</summary>
    public bool HasSlidingRope => SlidingWindow > 0 && (RopeFreqBaseSwa != RopeFreqBase || RopeFreqScaleSwa != RopeFreqScale);

    /// <summary>Whether Q, K and V have biases.</summary>
    public bool HasQkvBias => Architecture == Architecture.Qwen2;

    /// <summary>Whether each head's query and key are RMS-normalised (with <see cref="RmsEpsilon"/>) before RoPE.</summary>
    public bool HasQkNorm => Architecture is Architecture.Qwen3 or Architecture.Gemma3;

    /// <summary>Query width: heads × head dimension.</summary>
    public int QueryLength => HeadCount * HeadDimension;

    /// <summary>Key/value width: KV heads × head dimension.</summary>
    public int KvLength => HeadCountKv * HeadDimension;

    /// <summary>Reads the hyperparameters of <paramref name="file"/>.</summary>
    /// <exception cref="NotSupportedException">The architecture or its RoPE scaling is not one we run.</exception>
    /// <exception cref="GgufFormatException">A required key is missing or has the wrong type.</exception>
    public static ModelConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var m = file.Metadata;
        var name = m.GetString("general.architecture");
        var arch = name switch
        {
            "llama" => Architecture.Llama,
            "qwen2" => Architecture.Qwen2,
            "qwen3" => Architecture.Qwen3,
            "gemma2" => Architecture.Gemma2,
            "gemma3" => Architecture.Gemma3,
            "phi3" => Architecture.Phi3,
            _ => throw new NotSupportedException($"architecture '{name}' is not supported (llama, qwen2, qwen3, gemma2, gemma3 and phi3 are)"),
        };

        int Required(string key) => checked((int)m.GetUInt32($"{name}.{key}"));
        var embedding = Required("embedding_length");
        var heads = Required("attention.head_count");
        var headsKv = (int?)m.GetUInt32OrNull($"{name}.attention.head_count_kv") ?? heads;
        var headDim = (int?)m.GetUInt32OrNull($"{name}.attention.key_length") ?? (heads > 0 ? embedding / heads : 0);
        var valueDim = (int?)m.GetUInt32OrNull($"{name}.attention.value_length") ?? headDim;
        if (heads <= 0 || headsKv <= 0 || heads % headsKv != 0 || headDim <= 0 || valueDim != headDim)
        {
            throw new GgufFormatException(
                $"attention shape not supported: {heads} heads, {headsKv} KV heads, key length {headDim}, value length {valueDim}",
                key: $"{name}.attention.head_count");
        }

        var scalingType = m.GetStringOrNull($"{name}.rope.scaling.type");
        var factor = m.GetFloat32OrNull($"{name}.rope.scaling.factor") ?? m.GetFloat32OrNull($"{name}.rope.scale_linear");
        var freqScale = scalingType switch
        {
            null or "none" => factor is { } f1 and > 0 && scalingType is null ? 1f / f1 : 1f,
            "linear" => factor is { } f2 and > 0 ? 1f / f2 : 1f,
            _ => throw new NotSupportedException($"RoPE scaling '{scalingType}' is not supported ({name}.rope.scaling.type)"),
        };

        var vocab = (int?)m.GetUInt32OrNull($"{name}.vocab_size")
            ?? (m.GetArrayOrNull("tokenizer.ggml.tokens") is { } tokens ? checked((int)tokens.Count) : (int?)null)
            ?? (file.FindTensor("token_embd.weight") is { } embd ? checked((int)embd.Rows) : 0);

        var layers = Required("block_count");
        var freqBase = m.GetFloat32OrNull($"{name}.rope.freq_base") ?? 10000f;

        // Gemma's hyperparameters (llama_model_gemma2/gemma3::load_arch_hparams, llama_hparams::set_swa_pattern).
        var window = 0;
        var sliding = Array.Empty<bool>();
        float baseSwa = freqBase, scaleSwa = freqScale, queryScale = 1f, attentionCap = 0f, finalCap = 0f;
        if (arch is Architecture.Gemma2 or Architecture.Gemma3)
        {
            window = checked((int)(m.GetUInt32OrNull($"{name}.attention.sliding_window") ?? (arch == Architecture.Gemma2 ? 4096u : 0u)));
            if (window > 0)
            {
                sliding = SlidingPattern(m, name, layers, arch == Architecture.Gemma2 ? 2 : 6);
            }

            if (arch == Architecture.Gemma3)
            {
                baseSwa = 10000f; // llama_hparams' default for rope_freq_base_train_swa
                scaleSwa = 1f;
            }

            baseSwa = m.GetFloat32OrNull($"{name}.rope.freq_base_swa") ?? baseSwa;
            var is27B = layers == (arch == Architecture.Gemma2 ? 46 : 62);
            queryScale = is27B ? 1f / MathF.Sqrt(embedding / heads) : 1f / MathF.Sqrt(headDim);
            attentionCap = arch == Architecture.Gemma2 ? m.GetFloat32OrNull($"{name}.attn_logit_softcapping") ?? 50f : 0f;
            finalCap = m.GetFloat32OrNull($"{name}.final_logit_softcapping") ?? (arch == Architecture.Gemma2 ? 30f : 0f);
        }

        if (arch == Architecture.Phi3)
        {
            queryScale = 1f / MathF.Sqrt(headDim); // phi3.cpp: ggml_scale(Qcur, 1.0f / sqrtf(float(n_embd_head))); its sliding window is off in llama.cpp
        }

        var trainedContext = Required("context_length");
        return new ModelConfig
        {
            RopeAttentionFactor = m.GetFloat32OrNull($"{name}.rope.scaling.attn_factor") ?? 1f,
            OriginalContextLength = (int?)m.GetUInt32OrNull($"{name}.rope.scaling.original_context_length") ?? trainedContext,
            QueryScale = queryScale,
            AttentionSoftcap = attentionCap,
            FinalSoftcap = finalCap,
            SlidingWindow = window,
            SlidingLayers = sliding,
            RopeFreqBaseSwa = baseSwa,
            RopeFreqScaleSwa = scaleSwa,
            Architecture = arch,
            ArchitectureName = name,
            EmbeddingLength = embedding,
            LayerCount = layers,
            FeedForwardLength = Required("feed_forward_length"),
            HeadCount = heads,
            HeadCountKv = headsKv,
            HeadDimension = headDim,
            VocabularySize = vocab,
            TrainedContextLength = trainedContext,
            RmsEpsilon = m.GetFloat32($"{name}.attention.layer_norm_rms_epsilon"),
            RopeFreqBase = freqBase,
            RopeDimensions = (int?)m.GetUInt32OrNull($"{name}.rope.dimension_count") ?? headDim,
            RopeFreqScale = freqScale,
        };
    }

    /// <summary>
    /// Which layers slide: attention.sliding_window_pattern as a boolean per layer, or as a period n (layer i slides when
    /// i mod n &lt; n − 1), else the architecture's period.
    /// </summary>
    private static bool[] SlidingPattern(GgufMetadata m, string name, int layers, int period)
    {
        var key = $"{name}.attention.sliding_window_pattern";
        if (m.GetArrayOrNull(key) is { } flags)
        {
            if (flags.Count != layers || flags.ElementType != GgufValueType.Bool)
            {
                throw new GgufFormatException($"expected {layers} booleans, found {flags.Count} of {flags.ElementType}", key: key);
            }

            return [.. Enumerable.Range(0, layers).Select(i => flags.GetBool(i))];
        }

        var n = (int?)m.GetUInt32OrNull(key) ?? period;
        return [.. Enumerable.Range(0, layers).Select(i => n == 0 || i % n < n - 1)];
    }
}
