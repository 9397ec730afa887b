namespace First.Gguf;

/// <summary>
/// The hyperparameters and tokenizer facts a GGUF file states, read with the architecture prefix
/// taken from <c>general.architecture</c> (key names: ggml/docs/gguf.md and llama.cpp's
/// src/llama-arch.cpp). Absent keys are null; a key present with a type that cannot be converted
/// throws <see cref="GgufFormatException"/> naming it. Checking that a model has what it needs is
/// the model loader's job, not this record's.
/// </summary>
public sealed record GgufModelInfo
{
#pragma warning disable CS1591 // each property is the key it names
    public required string? Architecture { get; init; }
    public string? Name { get; init; }
    public uint? FileType { get; init; }
    public uint? QuantizationVersion { get; init; }
    public uint? ContextLength { get; init; }
    public uint? EmbeddingLength { get; init; }
    public uint? BlockCount { get; init; }
    public uint? FeedForwardLength { get; init; }
    public uint? HeadCount { get; init; }
    public uint? HeadCountKv { get; init; }
    public uint? KeyLength { get; init; }
    public uint? ValueLength { get; init; }
    public float? RmsEpsilon { get; init; }
    public float? LayerNormEpsilon { get; init; }
    public uint? RopeDimensionCount { get; init; }
    public float? RopeFreqBase { get; init; }
    public string? RopeScalingType { get; init; }
    public float? RopeScalingFactor { get; init; }
    public uint? RopeScalingOriginalContextLength { get; init; }
    public uint? VocabSize { get; init; }
    public string? TokenizerModel { get; init; }
    public string? TokenizerPre { get; init; }
    public long? TokenCount { get; init; }
    public long? MergeCount { get; init; }
    public uint? BosTokenId { get; init; }
    public uint? EosTokenId { get; init; }
    public uint? EotTokenId { get; init; }
    public uint? UnknownTokenId { get; init; }
    public uint? PaddingTokenId { get; init; }
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    public bool? AddSpacePrefix { get; init; }
    public bool HasChatTemplate { get; init; }
#pragma warning restore CS1591

    /// <summary>Head dimension: key_length when stated, else embedding / heads.</summary>
    public uint? HeadDimension => KeyLength ?? (EmbeddingLength is { } e && HeadCount is { } h && h != 0 ? e / h : null);

    /// <summary>Vocabulary size: <c>{arch}.vocab_size</c> when stated, else the length of <c>tokenizer.ggml.tokens</c>.</summary>
    public long? Vocabulary => VocabSize ?? TokenCount;

    /// <summary>Reads what <paramref name="metadata"/> states.</summary>
    public static GgufModelInfo FromMetadata(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var arch = metadata.GetStringOrNull("general.architecture");
        var p = arch is null ? "\0none\0." : arch + ".";
        return new GgufModelInfo
        {
            Architecture = arch,
            Name = metadata.GetStringOrNull("general.name"),
            FileType = metadata.GetUInt32OrNull("general.file_type"),
            QuantizationVersion = metadata.GetUInt32OrNull("general.quantization_version"),
            ContextLength = metadata.GetUInt32OrNull(p + "context_length"),
            EmbeddingLength = metadata.GetUInt32OrNull(p + "embedding_length"),
            BlockCount = metadata.GetUInt32OrNull(p + "block_count"),
            FeedForwardLength = metadata.GetUInt32OrNull(p + "feed_forward_length"),
            HeadCount = metadata.GetUInt32OrNull(p + "attention.head_count"),
            HeadCountKv = metadata.GetUInt32OrNull(p + "attention.head_count_kv"),
            KeyLength = metadata.GetUInt32OrNull(p + "attention.key_length"),
            ValueLength = metadata.GetUInt32OrNull(p + "attention.value_length"),
            RmsEpsilon = metadata.GetFloat32OrNull(p + "attention.layer_norm_rms_epsilon"),
            LayerNormEpsilon = metadata.GetFloat32OrNull(p + "attention.layer_norm_epsilon"),
            RopeDimensionCount = metadata.GetUInt32OrNull(p + "rope.dimension_count"),
            RopeFreqBase = metadata.GetFloat32OrNull(p + "rope.freq_base"),
            RopeScalingType = metadata.GetStringOrNull(p + "rope.scaling.type"),
            RopeScalingFactor = metadata.GetFloat32OrNull(p + "rope.scaling.factor"),
            RopeScalingOriginalContextLength = metadata.GetUInt32OrNull(p + "rope.scaling.original_context_length"),
            VocabSize = metadata.GetUInt32OrNull(p + "vocab_size"),
            TokenizerModel = metadata.GetStringOrNull("tokenizer.ggml.model"),
            TokenizerPre = metadata.GetStringOrNull("tokenizer.ggml.pre"),
            TokenCount = metadata.GetArrayOrNull("tokenizer.ggml.tokens")?.Count,
            MergeCount = metadata.GetArrayOrNull("tokenizer.ggml.merges")?.Count,
            BosTokenId = metadata.GetUInt32OrNull("tokenizer.ggml.bos_token_id"),
            EosTokenId = metadata.GetUInt32OrNull("tokenizer.ggml.eos_token_id"),
            EotTokenId = metadata.GetUInt32OrNull("tokenizer.ggml.eot_token_id"),
            UnknownTokenId = metadata.GetUInt32OrNull("tokenizer.ggml.unknown_token_id"),
            PaddingTokenId = metadata.GetUInt32OrNull("tokenizer.ggml.padding_token_id"),
            AddBosToken = metadata.ContainsKey("tokenizer.ggml.add_bos_token") ? metadata.GetBool("tokenizer.ggml.add_bos_token", false) : null,
            AddEosToken = metadata.ContainsKey("tokenizer.ggml.add_eos_token") ? metadata.GetBool("tokenizer.ggml.add_eos_token", false) : null,
            AddSpacePrefix = metadata.ContainsKey("tokenizer.ggml.add_space_prefix") ? metadata.GetBool("tokenizer.ggml.add_space_prefix", false) : null,
            HasChatTemplate = metadata.ContainsKey("tokenizer.chat_template"),
        };
    }
}
