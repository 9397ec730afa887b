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
    public bool RopeNeox => Architecture is Architecture.Qwen2 or Architecture.Qwen3;

    /// <summary>Whether Q, K and V have biases.</summary>
    public bool HasQkvBias => Architecture == Architecture.Qwen2;

    /// <summary>Whether each head's query and key are RMS-normalised (with <see cref="RmsEpsilon"/>) before RoPE.</summary>
    public bool HasQkNorm => Architecture == Architecture.Qwen3;

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
            _ => throw new NotSupportedException($"architecture '{name}' is not supported (llama, qwen2 and qwen3 are)"),
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

        return new ModelConfig
        {
            Architecture = arch,
            ArchitectureName = name,
            EmbeddingLength = embedding,
            LayerCount = Required("block_count"),
            FeedForwardLength = Required("feed_forward_length"),
            HeadCount = heads,
            HeadCountKv = headsKv,
            HeadDimension = headDim,
            VocabularySize = vocab,
            TrainedContextLength = Required("context_length"),
            RmsEpsilon = m.GetFloat32($"{name}.attention.layer_norm_rms_epsilon"),
            RopeFreqBase = m.GetFloat32OrNull($"{name}.rope.freq_base") ?? 10000f,
            RopeDimensions = (int?)m.GetUInt32OrNull($"{name}.rope.dimension_count") ?? headDim,
            RopeFreqScale = freqScale,
        };
    }
}
