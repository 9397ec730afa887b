using System.Globalization;
using System.Text;

namespace First.Cpu.Tokenization;

/// <summary>
/// SentencePiece BPE as llama.cpp runs it (llm_tokenizer_spm): spaces become ▁ (U+2581), a leading ▁ is
/// added to the text's first fragment, the text is split into UTF-8 characters, and the adjacent pair
/// whose concatenation is the highest-scoring token (leftmost on ties) is merged until none is left;
/// characters that are not tokens fall back to their &lt;0xXX&gt; byte tokens.
/// Microsoft.ML.Tokenizers' LlamaTokenizer is not used: it differs from llama.cpp on some of llama.cpp's
/// own test strings (its handling of the prefix space and of unknown characters).
/// </summary>
public sealed class SpmTokenizer : Tokenizer
{
    private const char Space = '\u2581';
    private readonly int[] _byteTokens = new int[256];

    /// <summary>A SentencePiece tokenizer over <paramref name="vocabulary"/>.</summary>
    public SpmTokenizer(Vocabulary vocabulary)
        : base(vocabulary)
    {
        for (var b = 0; b < 256; b++)
        {
            var id = vocabulary.Find($"<0x{b:X2}>");
            _byteTokens[b] = id >= 0 ? id : vocabulary.Find(((char)b).ToString());
        }
    }

    /// <inheritdoc/>
    protected override void EncodeText(string fragment, bool first, List<int> output)
    {
        var text = (Vocabulary.AddSpacePrefix && first ? " " + fragment : fragment).Replace(' ', Space);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length == 0)
        {
            return;
        }

        // Symbols: UTF-8 characters as byte ranges in a linked list.
        var symbols = new List<Symbol>();
        for (var offset = 0; offset < bytes.Length;)
        {
            var length = Math.Min(Utf8Length(bytes[offset]), bytes.Length - offset);
            symbols.Add(new Symbol(offset, length, symbols.Count - 1, offset + length < bytes.Length ? symbols.Count + 1 : -1));
            offset += length;
        }

        var queue = new PriorityQueue<Bigram, (float NegScore, int Left)>();
        for (var i = 1; i < symbols.Count; i++)
        {
            TryAdd(i - 1, i);
        }

        while (queue.TryDequeue(out var bigram, out _))
        {
            var left = symbols[bigram.Left];
            var right = symbols[bigram.Right];

            // Stale: one side was merged since this pair was queued.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length)
            {
                continue;
            }

            symbols[bigram.Left] = left with { Length = left.Length + right.Length, Next = right.Next };
            symbols[bigram.Right] = right with { Length = 0 };
            if (right.Next >= 0)
            {
                symbols[right.Next] = symbols[right.Next] with { Prev = bigram.Left };
            }

            TryAdd(symbols[bigram.Left].Prev, bigram.Left);
            TryAdd(bigram.Left, symbols[bigram.Left].Next);
        }

        for (var i = 0; i >= 0; i = symbols[i].Next)
        {
            var s = symbols[i];
            var id = Vocabulary.Find(Encoding.UTF8.GetString(bytes, s.Offset, s.Length));
            if (id >= 0)
            {
                output.Add(id);
                continue;
            }

            for (var b = s.Offset; b < s.Offset + s.Length; b++)
            {
                output.Add(_byteTokens[bytes[b]] >= 0 ? _byteTokens[bytes[b]] : Vocabulary.Unknown);
            }
        }

        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0)
            {
                return;
            }

            var l = symbols[left];
            var length = l.Length + symbols[right].Length;
            var id = Vocabulary.Find(Encoding.UTF8.GetString(bytes, l.Offset, length));
            if (id >= 0)
            {
                queue.Enqueue(new Bigram(left, right, length), (-Vocabulary.Scores[id], left));
            }
        }
    }

    /// <inheritdoc/>
    protected override byte[] PieceOf(int id)
    {
        var text = Vocabulary.Tokens[id];
        switch (Vocabulary.Types[id])
        {
            case TokenType.Byte when text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal):
                return [byte.Parse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)];
            case TokenType.Unknown:
                return "\u2585"u8.ToArray(); // llama.cpp prints ▅ for the unknown token
            default:
                return Encoding.UTF8.GetBytes(text.Replace(Space, ' '));
        }
    }

    /// <summary>Bytes of the UTF-8 character starting with <paramref name="b"/> (1 for a stray continuation byte).</summary>
    internal static int Utf8Length(byte b) => (b >> 4) switch
    {
        0xF => 4,
        0xE => 3,
        0xC or 0xD => 2,
        _ => 1,
    };

    private readonly record struct Symbol(int Offset, int Length, int Prev, int Next);

    private readonly record struct Bigram(int Left, int Right, int Length);
}
