using First.Cpu.Model;
using First.Cpu.Tokenization;
using First.Gguf;

namespace First.Cpu;

/// <summary>
/// A GGUF model ready to run: the mapped file, its hyperparameters, its weights (views into the map)
/// and its tokenizer. Read-only and thread-safe; each conversation is a <see cref="Session"/>.
/// <code>
/// using var model = LanguageModel.Open("model.gguf");
/// using var session = model.CreateSession();
/// var logits = session.Prefill(model.Tokenizer.Encode("Once upon a time"));
/// </code>
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private LanguageModel(GgufFile file, ModelConfig config, ModelWeights weights, Tokenizer tokenizer)
    {
        File = file;
        Config = config;
        Weights = weights;
        Tokenizer = tokenizer;
    }

    /// <summary>The mapped file.</summary>
    public GgufFile File { get; }

    /// <summary>Hyperparameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>Weights.</summary>
    public ModelWeights Weights { get; }

    /// <summary>Tokenizer.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>Maps <paramref name="path"/> and binds its tensors; nothing is read until used.</summary>
    /// <exception cref="GgufFormatException">The file is malformed or lacks a tensor or key.</exception>
    /// <exception cref="NotSupportedException">The architecture, a tensor type or the tokenizer is not supported.</exception>
    public static LanguageModel Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            var config = ModelConfig.FromGguf(file);
            var weights = ModelWeights.Bind(file, config);
            var tokenizer = Tokenization.Tokenizer.FromGguf(file);
            if (tokenizer.Vocabulary.Count != config.VocabularySize)
            {
                throw new GgufFormatException(
                    $"the tokenizer has {tokenizer.Vocabulary.Count} tokens but the model {config.VocabularySize}", key: "tokenizer.ggml.tokens");
            }

            return new LanguageModel(file, config, weights, tokenizer);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A new conversation.</summary>
    public Session CreateSession(SessionOptions? options = null) => new(Weights, options);

    /// <inheritdoc/>
    public void Dispose() => File.Dispose();
}
