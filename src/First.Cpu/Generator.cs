using System.Diagnostics;
using System.Text;
using First.Cpu.Model;
using First.Cpu.Sampling;

namespace First.Cpu;

/// <summary>Receives each generated token and its bytes; return false to stop.</summary>
public delegate bool TokenHandler(int token, ReadOnlySpan<byte> piece);

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>The token budget was used up.</summary>
    Length,

    /// <summary>The model produced an end-of-generation token.</summary>
    EndOfGeneration,

    /// <summary>The text ended with a stop string.</summary>
    StopString,

    /// <summary>The context is full.</summary>
    ContextFull,

    /// <summary>The caller's handler asked to stop.</summary>
    Caller,
}

/// <summary>What one generation did and how fast.</summary>
public sealed record GenerationResult
{
    /// <summary>The prompt's tokens (BOS included).</summary>
    public required IReadOnlyList<int> PromptTokens { get; init; }

    /// <summary>The generated tokens.</summary>
    public required IReadOnlyList<int> Tokens { get; init; }

    /// <summary>Seconds spent on the prompt (prefill).</summary>
    public required double PromptSeconds { get; init; }

    /// <summary>Seconds from the first decode step to the end.</summary>
    public required double GenerationSeconds { get; init; }

    /// <summary>Seconds from the start until the first generated token was known.</summary>
    public required double TimeToFirstToken { get; init; }

    /// <summary>Why it stopped.</summary>
    public required StopReason StopReason { get; init; }

    /// <summary>Prompt tokens per second.</summary>
    public double PromptTokensPerSecond => PromptTokens.Count / Math.Max(PromptSeconds, 1e-9);

    /// <summary>Decode steps per second (every generated token after the first took one).</summary>
    public double TokensPerSecond => Math.Max(Tokens.Count - 1, 0) / Math.Max(GenerationSeconds, 1e-9);
}

/// <summary>
/// Text generation over one <see cref="Session"/>: tokenize, prefill, then sample and decode token by
/// token, streaming pieces to a handler.
/// <code>
/// using var model = LanguageModel.Open("stories260K.gguf");
/// using var generator = new Generator(model, samplerOptions: SamplerOptions.Greedy);
/// generator.Generate("Once upon a time", 48, (id, piece) => { Console.OpenStandardOutput().Write(piece); return true; });
/// </code>
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly LanguageModel _model;

    /// <summary>A generator with its own session and sampler.</summary>
    public Generator(LanguageModel model, SessionOptions? sessionOptions = null, SamplerOptions? samplerOptions = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        Session = model.CreateSession(sessionOptions);
        Sampler = new Sampler(model.Config.VocabularySize, samplerOptions);
    }

    /// <summary>The session (KV cache and plans).</summary>
    public Session Session { get; }

    /// <summary>The sampler.</summary>
    public Sampler Sampler { get; }

    /// <summary>
    /// Generates up to <paramref name="maxTokens"/> tokens (negative: until the end of generation or of the
    /// context) after <paramref name="prompt"/>, starting a fresh sequence.
    /// </summary>
    /// <exception cref="ContextOverflowException">The prompt does not fit in the context.</exception>
    public GenerationResult Generate(string prompt, int maxTokens, TokenHandler? onToken = null, IReadOnlyList<string>? stopStrings = null, bool ignoreEos = false)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var promptTokens = _model.Tokenizer.Encode(prompt);
        return Generate(promptTokens, maxTokens, onToken, stopStrings, ignoreEos);
    }

    /// <summary>As <see cref="Generate(string, int, TokenHandler?, IReadOnlyList{string}?, bool)"/> from token ids.</summary>
    public GenerationResult Generate(IReadOnlyList<int> promptTokens, int maxTokens, TokenHandler? onToken = null, IReadOnlyList<string>? stopStrings = null, bool ignoreEos = false)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        if (promptTokens.Count == 0)
        {
            throw new ArgumentException("the prompt has no tokens", nameof(promptTokens));
        }

        if (promptTokens.Count >= Session.ContextLength)
        {
            throw new ContextOverflowException($"the prompt has {promptTokens.Count} tokens; the context holds {Session.ContextLength}");
        }

        var vocabulary = _model.Tokenizer.Vocabulary;
        var session = Session;
        Sampler.Reset();
        var ids = promptTokens.ToArray();
        foreach (var t in ids)
        {
            Sampler.Accept(t);
        }

        session.Reset();
        var clock = Stopwatch.StartNew();
        session.Prefill(ids);
        session.ReleaseSkippedLayers();
        var promptSeconds = clock.Elapsed.TotalSeconds;
        var generated = new List<int>(maxTokens > 0 ? maxTokens : 256);
        var tail = stopStrings is { Count: > 0 } ? new StringBuilder() : null;
        var maxStop = tail is null ? 0 : stopStrings!.Max(s => s.Length);
        var reason = StopReason.Length;
        double firstToken = 0, decodeStart = 0;
        while (maxTokens < 0 || generated.Count < maxTokens)
        {
            var token = Sampler.Sample(session.Logits);
            if (generated.Count == 0)
            {
                firstToken = clock.Elapsed.TotalSeconds;
                decodeStart = firstToken;
            }

            if (!ignoreEos && vocabulary.IsEndOfGeneration(token))
            {
                reason = StopReason.EndOfGeneration;
                break;
            }

            generated.Add(token);
            Sampler.Accept(token);
            var piece = _model.Tokenizer.Piece(token);
            if (onToken is not null && !onToken(token, piece))
            {
                reason = StopReason.Caller;
                break;
            }

            if (tail is not null && EndsWithStop(tail, piece, stopStrings!, maxStop))
            {
                reason = StopReason.StopString;
                break;
            }

            if (maxTokens >= 0 && generated.Count >= maxTokens)
            {
                break;
            }

            if (session.Position >= session.ContextLength)
            {
                reason = StopReason.ContextFull;
                break;
            }

            session.Decode(token);
        }

        return new GenerationResult
        {
            PromptTokens = ids,
            Tokens = generated,
            PromptSeconds = promptSeconds,
            GenerationSeconds = clock.Elapsed.TotalSeconds - decodeStart,
            TimeToFirstToken = firstToken,
            StopReason = reason,
        };
    }

    private static bool EndsWithStop(StringBuilder tail, ReadOnlySpan<byte> piece, IReadOnlyList<string> stops, int maxStop)
    {
        tail.Append(Encoding.UTF8.GetString(piece));
        if (tail.Length > 4 * maxStop)
        {
            tail.Remove(0, tail.Length - (2 * maxStop));
        }

        var text = tail.ToString();
        return stops.Any(s => s.Length > 0 && text.Contains(s, StringComparison.Ordinal));
    }

    /// <inheritdoc/>
    public void Dispose() => Session.Dispose();
}
