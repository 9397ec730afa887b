using First.Gguf;

namespace First.Cpu.Tokenization;

/// <summary>Byte-level BPE (GPT-2 style) — not yet implemented.</summary>
public sealed class BpeTokenizer : Tokenizer
{
    /// <summary>A BPE tokenizer.</summary>
    public BpeTokenizer(Vocabulary vocabulary, GgufArray merges)
        : base(vocabulary) => throw new NotSupportedException("BPE tokenizers (tokenizer.ggml.model 'gpt2') are not supported yet");

    /// <inheritdoc/>
    protected override void EncodeText(string fragment, bool first, List<int> output) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override byte[] PieceOf(int id) => [];
}
