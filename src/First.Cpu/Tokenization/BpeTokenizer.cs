using System.Text;
using System.Text.RegularExpressions;
using First.Gguf;

namespace First.Cpu.Tokenization;

/// <summary>
/// Byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe): the text is split by the pre-tokenizer's
/// regular expression (named by <c>tokenizer.ggml.pre</c>; the expressions are llama-vocab.cpp's), each
/// piece's UTF-8 bytes are written as GPT-2's byte characters, and adjacent symbols are merged in the order
/// of <c>tokenizer.ggml.merges</c> (lowest rank first, leftmost on ties). Microsoft.ML.Tokenizers is not
/// used: its BPE model takes vocab/merges files and its pre-tokenizers are not llama.cpp's per-model ones.
/// </summary>
public sealed partial class BpeTokenizer : Tokenizer
{
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly Regex[] _chain;
    private readonly bool _wholeWords;
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> s_charToByte = s_byteToChar.Select((c, b) => (c, b)).ToDictionary(x => x.c, x => (byte)x.b);

    /// <summary>A BPE tokenizer over <paramref name="vocabulary"/> with its <paramref name="merges"/>.</summary>
    /// <exception cref="NotSupportedException">The pre-tokenizer is not one we know.</exception>
    public BpeTokenizer(Vocabulary vocabulary, GgufArray merges)
        : base(vocabulary)
    {
        ArgumentNullException.ThrowIfNull(merges);
        // llama-vocab.cpp (llama_vocab::impl::load and llm_tokenizer_bpe): each name's chain of expressions, and whether
        // a piece that is a token is taken whole before any merge (ignore_merges).
        (_chain, _wholeWords) = vocabulary.PreTokenizer switch
        {
            null or "default" => ((Regex[])[DefaultPunctuation(), Gpt2(), Numbers(), ThreeDigits()], false),
            "gpt-2" or "gpt2" or "phi-2" or "mpt" or "olmo" or "jais" or "exaone4" => ([Gpt2()], false),
            "llama-bpe" or "llama3" or "llama-v3" or "falcon3" or "pixtral" or "lfm2" => ([Llama3()], true),
            "smaug-bpe" or "dbrx" => ([Llama3()], false),
            "qwen2" or "deepseek-r1-qwen" or "stablelm2" or "megrez" => ([Qwen2()], false),
            "smollm" or "starcoder" or "refact" or "command-r" or "codeshell" or "exaone" or "minerva-7b" => ([Digit(), Gpt2()], false),
            "falcon" => ([FalconPunctuation(), Gpt2(), ThreeDigits()], false),
            "gpt-4o" or "llama4" => ([Gpt4o()], false),
            var other => throw new NotSupportedException(
                $"BPE pre-tokenizer '{other}' is not supported (tokenizer.ggml.pre; gpt-2, llama-bpe, qwen2, smollm, gpt-4o, falcon, starcoder, refact, command-r and default are)"),
        };
        _ranks = new Dictionary<(string, string), int>((int)merges.Count);
        for (var i = 0; i < merges.Count; i++)
        {
            var m = merges.GetString(i);
            var space = m.IndexOf(' ', 1);
            if (space < 0)
            {
                throw new GgufFormatException($"merge {i} '{m}' has no space", key: "tokenizer.ggml.merges");
            }

            _ranks.TryAdd((m[..space], m[(space + 1)..]), i);
        }
    }

    /// <inheritdoc/>
    protected override void EncodeText(string fragment, bool first, List<int> output)
    {
        // unicode_regex_split: each expression in turn splits every piece the previous ones left, matched on that piece
        // alone (a lookahead sees the piece's end); text no alternative matches is a piece of its own.
        var pieces = new List<string> { fragment };
        foreach (var regex in _chain)
        {
            var next = new List<string>(pieces.Count);
            foreach (var piece in pieces)
            {
                var at = 0;
                foreach (Match word in regex.Matches(piece))
                {
                    if (word.Length == 0)
                    {
                        continue;
                    }

                    if (word.Index > at)
                    {
                        next.Add(piece[at..word.Index]);
                    }

                    next.Add(word.Value);
                    at = word.Index + word.Length;
                }

                if (at < piece.Length)
                {
                    next.Add(piece[at..]);
                }
            }

            pieces = next;
        }

        foreach (var piece in pieces)
        {
            EncodeWord(piece, output);
        }
    }

    private void EncodeWord(string word, List<int> output)
    {
        var bytes = Encoding.UTF8.GetBytes(word);
        var mapped = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            mapped.Append(s_byteToChar[b]);
        }

        var text = mapped.ToString();
        if (_wholeWords && Vocabulary.Find(text) is var whole and >= 0)
        {
            // llama.cpp's ignore_merges (Llama 3): a piece that is a token is taken whole.
            output.Add(whole);
            return;
        }

        // Symbols: one byte character each (every mapped character stands for one byte).
        var symbols = new List<string>(text.Length);
        foreach (var c in text)
        {
            symbols.Add(c.ToString());
        }

        while (symbols.Count > 1)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out var rank) && rank < bestRank)
                {
                    bestRank = rank;
                    best = i;
                }
            }

            if (best < 0)
            {
                break;
            }

            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }

        foreach (var s in symbols)
        {
            var id = Vocabulary.Find(s);
            if (id >= 0)
            {
                output.Add(id);
                continue;
            }

            foreach (var c in s)
            {
                var single = Vocabulary.Find(c.ToString());
                if (single >= 0)
                {
                    output.Add(single);
                }
            }
        }
    }

    /// <inheritdoc/>
    protected override byte[] PieceOf(int id)
    {
        var text = Vocabulary.Tokens[id];
        if (Vocabulary.Types[id] == TokenType.UserDefined)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            if (!s_charToByte.TryGetValue(text[i], out bytes[i]))
            {
                return Encoding.UTF8.GetBytes(text); // not byte-level text: print as written
            }
        }

        return bytes;
    }

    /// <summary>GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest for U+0100 onwards.</summary>
    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    // Pre-tokenizer expressions of llama-vocab.cpp (llm_tokenizer_bpe), by tokenizer.ggml.pre. llama.cpp writes (?i:'s|...)
    // out as case pairs, and matches \p{L} and \p{N} by Unicode category as .NET does.
    [GeneratedRegex(@"[\p{P}\$\+<=>\^~\|]+", RegexOptions.CultureInvariant)]
    private static partial Regex DefaultPunctuation();

    [GeneratedRegex(@"\p{N}+", RegexOptions.CultureInvariant)]
    private static partial Regex Numbers();

    [GeneratedRegex(@"[0-9][0-9][0-9]", RegexOptions.CultureInvariant)]
    private static partial Regex ThreeDigits();

    [GeneratedRegex(@"\p{N}", RegexOptions.CultureInvariant)]
    private static partial Regex Digit();

    [GeneratedRegex(@"[\p{P}\$\+<=>\^~\|`]+", RegexOptions.CultureInvariant)]
    private static partial Regex FalconPunctuation();

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)", RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2();

    // GPT-4o's (Phi-4-mini, Llama 4): words split at case changes, as llama.cpp writes its letter classes with lookaheads.
    [GeneratedRegex(@"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Gpt4o();

    [GeneratedRegex(@"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Llama3();

    [GeneratedRegex(@"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Qwen2();
}
