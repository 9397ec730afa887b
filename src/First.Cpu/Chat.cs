using First.Cpu.Model;
using First.Cpu.Sampling;
using First.Cpu.Tokenization;

namespace First.Cpu;

/// <summary>
/// A conversation with a model in its chat format. Each reply re-renders the conversation, keeps the
/// cached positions whose tokens did not change and prefills only the rest.
/// </summary>
public sealed class Chat : IDisposable
{
    private readonly LanguageModel _model;
    private readonly List<ChatMessage> _messages = [];
    private readonly List<int> _cached = [];

    /// <summary>A conversation, optionally opened by a system message.</summary>
    public Chat(LanguageModel model, SessionOptions? sessionOptions = null, SamplerOptions? samplerOptions = null, string? system = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        Template = ChatTemplate.Detect(model.File.Metadata.GetStringOrNull("tokenizer.chat_template"));
        Session = model.CreateSession(sessionOptions);
        Sampler = new Sampler(model.Config.VocabularySize, samplerOptions);
        if (!string.IsNullOrEmpty(system))
        {
            _messages.Add(new ChatMessage("system", system));
        }
    }

    /// <summary>The template in use (replace it to switch Qwen3's thinking off: <see cref="ChatTemplate.WithThinking"/>).</summary>
    public ChatTemplate Template { get; set => field = value ?? throw new ArgumentNullException(nameof(value)); }

    /// <summary>The session.</summary>
    public Session Session { get; }

    /// <summary>The sampler.</summary>
    public Sampler Sampler { get; }

    /// <summary>The messages so far.</summary>
    public IReadOnlyList<ChatMessage> Messages => _messages;

    /// <summary>Adds a user message and generates the assistant's reply (at most <paramref name="maxTokens"/> tokens; negative: no limit).</summary>
    /// <exception cref="ContextOverflowException">The conversation no longer fits the context.</exception>
    public string Reply(string user, int maxTokens = -1, TokenHandler? onToken = null)
    {
        _messages.Add(new ChatMessage("user", user));
        var prompt = _model.Tokenizer.Encode(Template.Render(_messages), addSpecial: true, parseSpecial: true);
        if (prompt.Length >= Session.ContextLength)
        {
            _messages.RemoveAt(_messages.Count - 1);
            throw new ContextOverflowException($"the conversation has {prompt.Length} tokens; the context holds {Session.ContextLength}");
        }

        // Keep the cached prefix that is unchanged; evaluate the rest (at least the last token, for logits).
        var keep = 0;
        while (keep < _cached.Count && keep < prompt.Length - 1 && _cached[keep] == prompt[keep])
        {
            keep++;
        }

        Session.Truncate(keep);
        _cached.RemoveRange(keep, _cached.Count - keep);
        Session.Prefill(prompt.AsSpan(keep));
        _cached.AddRange(prompt.AsSpan(keep).ToArray());
        var reply = new List<byte>();
        var vocabulary = _model.Tokenizer.Vocabulary;
        for (var n = 0; maxTokens < 0 || n < maxTokens; n++)
        {
            var token = Sampler.Sample(Session.Logits);
            if (vocabulary.IsEndOfGeneration(token) || Session.Position >= Session.ContextLength)
            {
                break;
            }

            Sampler.Accept(token);
            var piece = _model.Tokenizer.Piece(token);
            reply.AddRange(piece);
            if (onToken is not null && !onToken(token, piece))
            {
                break;
            }

            Session.Decode(token);
            _cached.Add(token);
        }

        var text = System.Text.Encoding.UTF8.GetString([.. reply]).Trim();
        _messages.Add(new ChatMessage("assistant", text));
        return text;
    }

    /// <inheritdoc/>
    public void Dispose() => Session.Dispose();
}
