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
            var (config, weights, tokenizer) = Bind(file, null);
            return new LanguageModel(file, config, weights, tokenizer);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether First runs <paramref name="file"/>, and if not, which part is missing: its architecture, a tensor, a
    /// hyperparameter key, a tensor format or its tokenizer (what <see cref="Open"/> would refuse, without keeping anything).
    /// </summary>
    public static ModelSupport CheckSupport(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Architecture == "first-router")
        {
            return new(false, "model", "a FiRST router file, not a model");
        }

        if (file.Tensors.Count == 0)
        {
            return new(false, "model", "no tensors (a vocabulary-only file)");
        }

        var part = "architecture";
        try
        {
            _ = Bind(file, stage => part = stage);
            return new(true, null, null);
        }
        catch (GgufFormatException e)
        {
            return new(false, part == "tokenizer" ? part : e.Tensor is not null ? "tensor" : e.Key is not null ? "key" : part, e.Message);
        }
        catch (NotSupportedException e)
        {
            return new(false, part == "tensor" && e.Message.StartsWith("tensor '", StringComparison.Ordinal) ? "format" : part, e.Message);
        }
    }

    /// <summary>
    /// Hyperparameters, weights and tokenizer of <paramref name="file"/>, as <see cref="Open"/> binds them; <paramref name="stage"/>
    /// hears "tensor" and "tokenizer" as each part begins, so <see cref="CheckSupport"/> can name the part that failed.
    /// </summary>
    private static (ModelConfig Config, ModelWeights Weights, Tokenizer Tokenizer) Bind(GgufFile file, Action<string>? stage)
    {
        var config = ModelConfig.FromGguf(file);
        stage?.Invoke("tensor");
        var weights = ModelWeights.Bind(file, config);
        stage?.Invoke("tokenizer");
        var tokenizer = Tokenization.Tokenizer.FromGguf(file);
        if (tokenizer.Vocabulary.Count != config.VocabularySize)
        {
            throw new GgufFormatException(
                $"the tokenizer has {tokenizer.Vocabulary.Count} tokens but the model {config.VocabularySize}", key: "tokenizer.ggml.tokens");
        }

        return (config, weights, tokenizer);
    }

    /// <summary>A new conversation.</summary>
    public Session CreateSession(SessionOptions? options = null) => new(Weights, options);

    /// <inheritdoc/>
    public void Dispose() => File.Dispose();
}

/// <summary>Whether a file can run (<see cref="LanguageModel.CheckSupport"/>); if not, the missing part and why.</summary>
/// <param name="Supported">Whether <see cref="LanguageModel.Open"/> takes the file.</param>
/// <param name="Missing">architecture, tensor, key, format, tokenizer or model; null when supported.</param>
/// <param name="Reason">The refusal's message; null when supported.</param>
public sealed record ModelSupport(bool Supported, string? Missing, string? Reason);
