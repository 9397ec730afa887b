using First.Cpu.Kernels;
using First.Gguf;

namespace First.Cpu.Model;

/// <summary>One transformer block's tensors: views into the map, each matrix with its kernels chosen.</summary>
public sealed unsafe class LayerWeights
{
    /// <summary>RMSNorm weight before attention, [EmbeddingLength].</summary>
    public required float* AttentionNorm { get; init; }

    /// <summary>Query projection, [QueryLength rows][EmbeddingLength].</summary>
    public required QuantMatrix Query { get; init; }

    /// <summary>Key projection, [KvLength rows][EmbeddingLength].</summary>
    public required QuantMatrix Key { get; init; }

    /// <summary>Value projection, [KvLength rows][EmbeddingLength].</summary>
    public required QuantMatrix Value { get; init; }

    /// <summary>Output projection, [EmbeddingLength rows][QueryLength].</summary>
    public required QuantMatrix Output { get; init; }

    /// <summary>Query bias [QueryLength] (qwen2), or null.</summary>
    public float* QueryBias { get; init; }

    /// <summary>Key bias [KvLength] (qwen2), or null.</summary>
    public float* KeyBias { get; init; }

    /// <summary>Value bias [KvLength] (qwen2), or null.</summary>
    public float* ValueBias { get; init; }

    /// <summary>Per-head RMSNorm weight of the queries, [HeadDimension] (qwen3), or null.</summary>
    public float* QueryNorm { get; init; }

    /// <summary>Per-head RMSNorm weight of the keys, [HeadDimension] (qwen3), or null.</summary>
    public float* KeyNorm { get; init; }

    /// <summary>RMSNorm weight of the attention block's output, [EmbeddingLength] (Gemma), or null.</summary>
    public float* PostAttentionNorm { get; init; }

    /// <summary>RMSNorm weight of the feed-forward network's output, [EmbeddingLength] (Gemma), or null.</summary>
    public float* PostFeedForwardNorm { get; init; }

    /// <summary>RMSNorm weight before the feed-forward network, [EmbeddingLength].</summary>
    public required float* FeedForwardNorm { get; init; }

    /// <summary>Gate projection, [FeedForwardLength rows][EmbeddingLength].</summary>
    public required QuantMatrix Gate { get; init; }

    /// <summary>Up projection, [FeedForwardLength rows][EmbeddingLength].</summary>
    public required QuantMatrix Up { get; init; }

    /// <summary>Down projection, [EmbeddingLength rows][FeedForwardLength].</summary>
    public required QuantMatrix Down { get; init; }

    /// <summary>Bytes of weights one token reads in this layer (what skipping it saves at decode).</summary>
    public long MatrixBytes => Query.Bytes + Key.Bytes + Value.Bytes + Output.Bytes + Gate.Bytes + Up.Bytes + Down.Bytes;
}

/// <summary>
/// Every tensor of a model as typed views into the memory map, in its stored format (no dequantized
/// copies), with shapes checked against <see cref="ModelConfig"/> and kernels chosen once. Tensor
/// names are llama.cpp's (llama-arch.cpp, LLM_TENSOR_NAMES). Read-only: many sessions share it.
/// </summary>
public sealed unsafe class ModelWeights
{
    private ModelWeights(ModelConfig config, QuantMatrix embedding, float* outputNorm, QuantMatrix output, LayerWeights[] layers, float* ropeFactors,
        float* ropeLong, float* ropeShort)
    {
        Config = config;
        RopeFactorsPointer = ropeFactors;
        RopeLongPointer = ropeLong;
        RopeShortPointer = ropeShort;
        TokenEmbedding = embedding;
        OutputNorm = outputNorm;
        Output = output;
        Layers = layers;
    }

    /// <summary>The hyperparameters the shapes were checked against.</summary>
    public ModelConfig Config { get; }

    /// <summary>Token embeddings, [VocabularySize rows][EmbeddingLength]; rows are dequantized on lookup.</summary>
    public QuantMatrix TokenEmbedding { get; }

    /// <summary>Final RMSNorm weight, [EmbeddingLength].</summary>
    public float* OutputNorm { get; }

    /// <summary>Output head, [VocabularySize rows][EmbeddingLength] (the embedding itself when tied).</summary>
    public QuantMatrix Output { get; }

    /// <summary>The blocks, first to last.</summary>
    public IReadOnlyList<LayerWeights> Layers { get; }

    private float* RopeFactorsPointer { get; }

    private float* RopeLongPointer { get; }

    private float* RopeShortPointer { get; }

    /// <summary>
    /// The RoPE divisors a context of <paramref name="contextLength"/> uses (llama_model::get_rope_factors): Llama 3's
    /// rope_freqs, else LongRoPE's long factors where the context (padded to 256, as llama_context pads it) exceeds the
    /// original one and its short factors otherwise, else none.
    /// </summary>
    public ReadOnlySpan<float> RopeFactorsFor(int contextLength)
    {
        var half = Config.RopeDimensions / 2;
        return RopeFactorsPointer != null ? new(RopeFactorsPointer, half)
            : RopeLongPointer != null && ((contextLength + 255) & ~255) > Config.OriginalContextLength ? new(RopeLongPointer, half)
            : RopeShortPointer != null ? new(RopeShortPointer, half)
            : default;
    }

    /// <summary>Binds the tensors of <paramref name="file"/> (which must stay open while the weights are used).</summary>
    /// <exception cref="GgufFormatException">A tensor is missing or has the wrong shape; the message names it.</exception>
    /// <exception cref="NotSupportedException">A tensor's type has no kernel; the message names it.</exception>
    public static ModelWeights Bind(GgufFile file, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        var d = config.EmbeddingLength;
        var embedding = Matrix(file, "token_embd.weight", config.VocabularySize, d);
        // Gemma 2 always multiplies by the token embedding (gemma2.cpp load_arch_tensors), whatever else the file holds.
        var output = file.FindTensor("output.weight") is null || config.Architecture == Architecture.Gemma2
            ? embedding
            : Matrix(file, "output.weight", config.VocabularySize, d);
        var layers = new LayerWeights[config.LayerCount];
        for (var i = 0; i < layers.Length; i++)
        {
            string N(string t) => $"blk.{i}.{t}";
            var fusedQkv = file.FindTensor(N("attn_qkv.weight")) is not null;
            var fusedGateUp = file.FindTensor(N("ffn_gate.weight")) is null && file.FindTensor(N("ffn_up.weight")) is { } up && up.Rows == 2L * config.FeedForwardLength;
            var q = config.QueryLength;
            var kv = config.KvLength;
            var ff = config.FeedForwardLength;
            layers[i] = new LayerWeights
            {
                AttentionNorm = Vector(file, N("attn_norm.weight"), d),
                // A fused projection is taken as views of its rows: Q, then K, then V; gate, then up (llama.cpp's build_qkv
                // views and ggml_swiglu's halves).
                Query = fusedQkv ? Rows(file, N("attn_qkv.weight"), 0, q, q + (2 * kv), d) : Matrix(file, N("attn_q.weight"), q, d),
                Key = fusedQkv ? Rows(file, N("attn_qkv.weight"), q, kv, q + (2 * kv), d) : Matrix(file, N("attn_k.weight"), kv, d),
                Value = fusedQkv ? Rows(file, N("attn_qkv.weight"), q + kv, kv, q + (2 * kv), d) : Matrix(file, N("attn_v.weight"), kv, d),
                Output = Matrix(file, N("attn_output.weight"), d, config.QueryLength),
                QueryBias = config.HasQkvBias ? Vector(file, N("attn_q.bias"), config.QueryLength) : null,
                KeyBias = config.HasQkvBias ? Vector(file, N("attn_k.bias"), config.KvLength) : null,
                ValueBias = config.HasQkvBias ? Vector(file, N("attn_v.bias"), config.KvLength) : null,
                QueryNorm = config.HasQkNorm ? Vector(file, N("attn_q_norm.weight"), config.HeadDimension) : null,
                KeyNorm = config.HasQkNorm ? Vector(file, N("attn_k_norm.weight"), config.HeadDimension) : null,
                // Gemma's converter stores every norm weight as 1 + w: the file holds the factors llama.cpp multiplies by.
                PostAttentionNorm = config.IsGemma ? Vector(file, N("post_attention_norm.weight"), d) : null,
                PostFeedForwardNorm = config.IsGemma ? Vector(file, N("post_ffw_norm.weight"), d) : null,
                FeedForwardNorm = Vector(file, N("ffn_norm.weight"), d),
                Gate = fusedGateUp ? Rows(file, N("ffn_up.weight"), 0, ff, 2 * ff, d) : Matrix(file, N("ffn_gate.weight"), ff, d),
                Up = fusedGateUp ? Rows(file, N("ffn_up.weight"), ff, ff, 2 * ff, d) : Matrix(file, N("ffn_up.weight"), ff, d),
                Down = Matrix(file, N("ffn_down.weight"), d, config.FeedForwardLength),
            };
        }

        float* Optional(string name) => file.FindTensor(name) is null ? null : Vector(file, name, config.RopeDimensions / 2);
        return new ModelWeights(config, embedding, Vector(file, "output_norm.weight", d), output, layers,
            Optional("rope_freqs.weight"), Optional("rope_factors_long.weight"), Optional("rope_factors_short.weight"));
    }

    private static QuantMatrix Matrix(GgufFile file, string name, int rows, int cols) => Rows(file, name, 0, rows, rows, cols);

    /// <summary>
    /// Rows <paramref name="first"/>.. of tensor <paramref name="name"/>, which must be [<paramref name="cols"/>, <paramref name="totalRows"/>]:
    /// the whole matrix, or a view of a fused one.
    /// </summary>
    private static QuantMatrix Rows(GgufFile file, string name, int first, int rows, int totalRows, int cols)
    {
        var t = file.GetTensor(name);
        if (t.Shape.Count < 2 || t.Shape[0] != cols || t.Shape[1] != totalRows || t.Shape.Skip(2).Any(x => x != 1))
        {
            throw new GgufFormatException($"tensor has shape [{t.ShapeText}], expected [{cols}, {totalRows}]", tensor: name);
        }

        try
        {
            return first == 0 && rows == totalRows ? QuantMatrix.FromTensor(file, t) : QuantMatrix.FromTensorRows(file, t, first, rows);
        }
        catch (Exception e) when (e is NotSupportedException or KeyNotFoundException or ArgumentException)
        {
            throw new NotSupportedException($"tensor '{name}': type {GgmlTypes.NameOf((uint)t.Type)} is not supported ({e.Message})", e);
        }
    }

    private static float* Vector(GgufFile file, string name, int length)
    {
        var t = file.GetTensor(name);
        if (t.ElementCount != length)
        {
            throw new GgufFormatException($"tensor has shape [{t.ShapeText}], expected [{length}]", tensor: name);
        }

        return t.Type == GgmlType.F32
            ? (float*)file.GetTensorPointer(t)
            : throw new NotSupportedException($"tensor '{name}': type {GgmlTypes.NameOf((uint)t.Type)} is not supported for a norm or bias (f32 is)");
    }
}
