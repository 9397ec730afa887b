using First.Gguf;

namespace First.Cpu.Tokenization;

/// <summary>Token types of <c>tokenizer.ggml.token_type</c> (llama.h, llama_token_type).</summary>
public enum TokenType
{
    /// <summary>Not set.</summary>
    Undefined = 0,

    /// <summary>Ordinary text.</summary>
    Normal = 1,

    /// <summary>The unknown token.</summary>
    Unknown = 2,

    /// <summary>BOS, EOS and other markers: never produced from text unless special tokens are parsed.</summary>
    Control = 3,

    /// <summary>Added tokens, always matched in text before the tokenizer runs.</summary>
    UserDefined = 4,

    /// <summary>Unused slots.</summary>
    Unused = 5,

    /// <summary>SentencePiece byte fallback, <c>&lt;0xXX&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>The token table of a GGUF file: texts, scores, types and special ids (tokenizer.ggml.*).</summary>
public sealed class Vocabulary
{
    private readonly Dictionary<string, int> _ids;

    private Vocabulary(string[] tokens, float[] scores, TokenType[] types, Dictionary<string, int> ids)
    {
        Tokens = tokens;
        Scores = scores;
        Types = types;
        _ids = ids;
    }

    /// <summary>Token texts, by id.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Scores (SentencePiece log probabilities; zeros for BPE files), by id.</summary>
    public IReadOnlyList<float> Scores { get; }

    /// <summary>Types, by id.</summary>
    public IReadOnlyList<TokenType> Types { get; }

    /// <summary>Tokens.</summary>
    public int Count => Tokens.Count;

    /// <summary>Beginning of sequence, or −1.</summary>
    public int Bos { get; private init; } = -1;

    /// <summary>End of sequence, or −1.</summary>
    public int Eos { get; private init; } = -1;

    /// <summary>End of turn (chat models), or −1.</summary>
    public int Eot { get; private init; } = -1;

    /// <summary>Unknown, or −1.</summary>
    public int Unknown { get; private init; } = -1;

    /// <summary>Whether encoding a prompt starts with BOS.</summary>
    public bool AddBos { get; private init; }

    /// <summary>Whether encoding adds EOS at the end.</summary>
    public bool AddEos { get; private init; }

    /// <summary>Whether SentencePiece text gets a leading space.</summary>
    public bool AddSpacePrefix { get; private init; }

    /// <summary><c>tokenizer.ggml.model</c>: llama (SentencePiece) or gpt2 (byte-level BPE).</summary>
    public string Model { get; private init; } = "";

    /// <summary><c>tokenizer.ggml.pre</c>: the BPE pre-tokenizer, or null.</summary>
    public string? PreTokenizer { get; private init; }

    /// <summary>The id of a token text, or −1.</summary>
    public int Find(string text) => _ids.TryGetValue(text, out var id) ? id : -1;

    /// <summary>Whether <paramref name="id"/> ends generation (EOS, EOT, or another end-of-generation marker).</summary>
    public bool IsEndOfGeneration(int id) => id >= 0 && (id == Eos || id == Eot || EndOfGeneration.Contains(id));

    /// <summary>Other tokens that end generation (e.g. &lt;|im_end|&gt;, &lt;|eot_id|&gt; found by text).</summary>
    public IReadOnlySet<int> EndOfGeneration { get; private init; } = new HashSet<int>();

    /// <summary>Reads the table of <paramref name="metadata"/>.</summary>
    /// <exception cref="GgufFormatException">A key is missing or malformed; the message names it.</exception>
    public static Vocabulary FromMetadata(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var model = metadata.GetString("tokenizer.ggml.model");
        var tokenArray = metadata.GetArray("tokenizer.ggml.tokens");
        var n = checked((int)tokenArray.Count);
        var tokens = new string[n];
        var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            tokens[i] = tokenArray.GetString(i);
            ids.TryAdd(tokens[i], i);
        }

        var scores = new float[n];
        if (metadata.GetArrayOrNull("tokenizer.ggml.scores") is { } s)
        {
            Require(s.Count == n, "tokenizer.ggml.scores", $"has {s.Count} entries for {n} tokens");
            s.AsSpan<float>().CopyTo(scores);
        }

        var types = new TokenType[n];
        if (metadata.GetArrayOrNull("tokenizer.ggml.token_type") is { } t)
        {
            Require(t.Count == n, "tokenizer.ggml.token_type", $"has {t.Count} entries for {n} tokens");
            var raw = t.AsSpan<int>();
            for (var i = 0; i < n; i++)
            {
                types[i] = (TokenType)raw[i];
            }
        }
        else
        {
            Array.Fill(types, TokenType.Normal);
        }

        var spm = model == "llama";
        int Id(string key, int fallback)
        {
            if (!metadata.ContainsKey(key))
            {
                return fallback;
            }

            var v = metadata.GetUInt32(key);
            return v < n ? (int)v : -1;
        }

        var eot = Id("tokenizer.ggml.eot_token_id", -1);
        var endings = new HashSet<int>();
        foreach (var text in new[] { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>" })
        {
            if (ids.TryGetValue(text, out var id) && types[id] is TokenType.Control or TokenType.UserDefined)
            {
                endings.Add(id);
            }
        }

        return new Vocabulary(tokens, scores, types, ids)
        {
            Model = model,
            PreTokenizer = metadata.GetStringOrNull("tokenizer.ggml.pre"),
            Bos = Id("tokenizer.ggml.bos_token_id", spm ? 1 : -1),
            Eos = Id("tokenizer.ggml.eos_token_id", spm ? 2 : -1),
            Eot = eot,
            Unknown = Id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1),
            AddBos = metadata.GetBool("tokenizer.ggml.add_bos_token", spm),
            AddEos = metadata.GetBool("tokenizer.ggml.add_eos_token", false),
            AddSpacePrefix = metadata.GetBool("tokenizer.ggml.add_space_prefix", spm),
            EndOfGeneration = endings,
        };
    }

    private static void Require(bool ok, string key, string what)
    {
        if (!ok)
        {
            throw new GgufFormatException(what, key: key);
        }
    }
}
