using First.Tests;
namespace First.Gguf.Tests;

/// <summary>Facts about the real files in shared/ (shared/models/README.md states them).</summary>
public sealed class SharedFileTests
{
    [Fact]
    public void Stories260K_has_the_stated_hyperparameters()
    {
        using var file = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        var info = file.ModelInfo;
        Assert.Equal("llama", info.Architecture);
        Assert.Equal(5u, info.BlockCount);
        Assert.Equal(64u, info.EmbeddingLength);
        Assert.Equal(172u, info.FeedForwardLength);
        Assert.Equal(8u, info.HeadCount);
        Assert.Equal(4u, info.HeadCountKv);
        Assert.Equal(8u, info.HeadDimension);
        Assert.Equal(512L, info.Vocabulary);
        Assert.Equal(1e-5f, info.RmsEpsilon);
        Assert.Equal("llama", info.TokenizerModel);
        Assert.Equal(1u, info.BosTokenId);
        Assert.Equal(2u, info.EosTokenId);
        Assert.Equal(48, file.Tensors.Count);
        Assert.All(file.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
        Assert.Equal(1_185_376, file.Length);
    }

    [Fact]
    public void Stories260K_tensor_data_is_the_bytes_at_the_stated_offset()
    {
        var path = TestPaths.Model("stories260K.gguf");
        var raw = File.ReadAllBytes(path);
        using var file = GgufFile.Open(path);
        foreach (var t in file.Tensors)
        {
            Assert.True(file.GetTensorBytes(t).SequenceEqual(raw.AsSpan((int)t.FileOffset, (int)t.ByteSize)), t.Name);
            Assert.Equal(0, t.FileOffset % file.Alignment);
        }

        var embedding = file.GetTensor("token_embd.weight");
        Assert.Equal([64L, 512L], embedding.Shape);
        Assert.Equal(512, embedding.Rows);
        Assert.Equal(64 * 512, file.GetTensorData<float>(embedding).Length);
    }

    [Theory]
    [InlineData("stories260K-Q8_0.gguf", GgmlType.Q8_0)]
    [InlineData("stories260K-Q4_0.gguf", GgmlType.Q4_0)]
    public void Quantized_stories_files_have_quantized_matrices(string name, GgmlType matrices)
    {
        using var file = GgufFile.Open(TestPaths.Model(name));
        Assert.Equal(48, file.Tensors.Count);
        Assert.Equal(matrices, file.GetTensor("blk.0.attn_q.weight").Type);
        Assert.Equal(matrices, file.GetTensor("blk.4.ffn_up.weight").Type);
        Assert.Equal(GgmlType.F32, file.GetTensor("blk.0.attn_norm.weight").Type);

        // ffn_down rows are 172 long, not a whole number of 32-element blocks: llama-quantize falls back to F16.
        Assert.Equal(GgmlType.F16, file.GetTensor("blk.0.ffn_down.weight").Type);

        // llama-quantize keeps output.weight at Q8_0 for both.
        Assert.Equal(GgmlType.Q8_0, file.GetTensor("output.weight").Type);
        var q = file.GetTensor("blk.0.attn_q.weight");
        Assert.Equal(64 / 32 * GgmlTypes.Get(matrices).BytesPerBlock * 64, q.ByteSize);
    }

    [Theory]
    [InlineData("ggml-vocab-llama-spm.gguf", "llama", "llama", 32000)]
    [InlineData("ggml-vocab-llama-bpe.gguf", "llama", "gpt2", 128256)]
    [InlineData("ggml-vocab-qwen2.gguf", "qwen2", "gpt2", 151936)]
    [InlineData("ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257)]
    [InlineData("ggml-vocab-phi-3.gguf", "phi3", "llama", 32064)]
    public void Vocabulary_files_state_their_tokenizer(string name, string arch, string model, long tokens)
    {
        using var file = GgufFile.Open(TestPaths.Vocab(name));
        Assert.Equal(arch, file.Architecture);
        Assert.Equal(model, file.ModelInfo.TokenizerModel);
        Assert.Equal(tokens, file.ModelInfo.TokenCount);
        Assert.Empty(file.Tensors);
        var tokenArray = file.Metadata.GetArray("tokenizer.ggml.tokens");
        var decoded = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tokenArray.Count; i++)
        {
            decoded.Add(tokenArray.GetString(i)); // every real token is valid UTF-8
        }

        Assert.Equal(tokens, decoded.Count); // and no two tokens are the same string

        if (model == "gpt2")
        {
            Assert.True(file.Metadata.GetArray("tokenizer.ggml.merges").Count > 0);
        }
        else
        {
            Assert.Equal(tokens, file.Metadata.GetArray("tokenizer.ggml.scores").AsSpan<float>().Length);
        }
    }
}
