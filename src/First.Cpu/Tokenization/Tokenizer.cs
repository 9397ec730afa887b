using System.Text;
using First.Gguf;

namespace First.Cpu.Tokenization;

/// <summary>
/// Text ↔ token ids with llama.cpp's results (llama-vocab.cpp). The base class splits the text around
/// special tokens (user-defined ones always, control ones when asked) and adds BOS/EOS; the subclass
/// tokenizes the plain fragments. Every token's bytes are computed once, so streaming pieces allocates nothing.
/// </summary>
public abstract class Tokenizer
{
    private readonly byte[][] _pieces;
    private readonly (string Text, int Id)[] _specials;

    /// <summary>A tokenizer over <paramref name="vocabulary"/>.</summary>
    protected Tokenizer(Vocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        Vocabulary = vocabulary;
        _pieces = new byte[vocabulary.Count][];
        for (var i = 0; i < vocabulary.Count; i++)
        {
            _pieces[i] = vocabulary.Types[i] is TokenType.Control or TokenType.Unused ? [] : PieceOf(i);
        }

        _specials = [.. Enumerable.Range(0, vocabulary.Count)
            .Where(i => vocabulary.Types[i] is TokenType.Control or TokenType.UserDefined && vocabulary.Tokens[i].Length > 0)
            .Select(i => (vocabulary.Tokens[i], i))
            .OrderByDescending(s => s.Item1.Length)
            .ThenBy(s => s.i)];
    }

    /// <summary>The token table.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>The tokenizer a GGUF file describes.</summary>
    /// <exception cref="NotSupportedException">The tokenizer model or pre-tokenizer is not one we implement.</exception>
    public static Tokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var vocabulary = Vocabulary.FromMetadata(file.Metadata);
        return vocabulary.Model switch
        {
            "llama" => new SpmTokenizer(vocabulary),
            "gpt2" => new BpeTokenizer(vocabulary, file.Metadata.GetArray("tokenizer.ggml.merges")),
            _ => throw new NotSupportedException($"tokenizer model '{vocabulary.Model}' is not supported (llama and gpt2 are; tokenizer.ggml.model)"),
        };
    }

    /// <summary>
    /// The ids of <paramref name="text"/>: BOS first when <paramref name="addSpecial"/> and the vocabulary
    /// wants it; control tokens written in the text are recognised when <paramref name="parseSpecial"/>.
    /// </summary>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        var output = new List<int>();
        Encode(text, output, addSpecial, parseSpecial);
        return [.. output];
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        if (addSpecial && Vocabulary.AddBos && Vocabulary.Bos >= 0)
        {
            output.Add(Vocabulary.Bos);
        }

        var afterSpecial = true;
        foreach (var (fragment, special) in Partition(text, parseSpecial))
        {
            if (special >= 0)
            {
                output.Add(special);
                afterSpecial = true;
            }
            else
            {
                EncodeText(fragment, afterSpecial, output);
                afterSpecial = false;
            }
        }

        if (addSpecial && Vocabulary.AddEos && Vocabulary.Eos >= 0)
        {
            output.Add(Vocabulary.Eos);
        }
    }

    /// <summary>Tokenizes a fragment without special tokens; <paramref name="first"/> when it starts the text or follows a special token.</summary>
    protected abstract void EncodeText(string fragment, bool first, List<int> output);

    /// <summary>The bytes a token stands for (empty for control tokens).</summary>
    protected abstract byte[] PieceOf(int id);

    /// <summary>The bytes token <paramref name="id"/> prints as: no allocation.</summary>
    public ReadOnlySpan<byte> Piece(int id) => (uint)id < (uint)_pieces.Length ? _pieces[id] : [];

    /// <summary>
    /// The text of <paramref name="ids"/>: pieces joined, control tokens dropped, and the leading space a
    /// SentencePiece vocabulary adds removed, so that Decode(Encode(s)) = s.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            bytes.AddRange(Piece(id));
        }

        var start = Vocabulary.AddSpacePrefix && bytes.Count > 0 && bytes[0] == (byte)' ' ? 1 : 0;
        return Encoding.UTF8.GetString([.. bytes.Skip(start)]);
    }

    /// <summary>Plain-text fragments (id −1) and special tokens (their id), in order.</summary>
    private List<(string Text, int Special)> Partition(string text, bool parseSpecial)
    {
        var parts = new List<(string Text, int Special)> { (text, -1) };
        foreach (var (special, id) in _specials)
        {
            if (!parseSpecial && Vocabulary.Types[id] != TokenType.UserDefined)
            {
                continue;
            }

            for (var i = 0; i < parts.Count; i++)
            {
                var (fragment, sid) = parts[i];
                if (sid >= 0)
                {
                    continue;
                }

                var at = fragment.IndexOf(special, StringComparison.Ordinal);
                if (at < 0)
                {
                    continue;
                }

                parts.RemoveAt(i);
                var insert = i;
                if (at > 0)
                {
                    parts.Insert(insert++, (fragment[..at], -1));
                }

                parts.Insert(insert++, (special, id));
                var rest = fragment[(at + special.Length)..];
                if (rest.Length > 0)
                {
                    parts.Insert(insert, (rest, -1));
                }

                i = insert - 1;
            }
        }

        parts.RemoveAll(p => p.Special < 0 && p.Text.Length == 0);
        return parts;
    }
}
