using System.Text.Json;
using First.Cpu.Sampling;

namespace First.Cpu.Routing.Training;

/// <summary>Training or evaluation text that gives no usable example; the message says why.</summary>
public sealed class TrainingDataException(string message) : Exception(message);

/// <summary>(prompt, continuation) pairs from a text, a JSONL file or the model itself (shared/FIRST.md, Training).</summary>
public static class TrainingData
{
    /// <summary>Fewest continuation tokens an example may have.</summary>
    public const int MinContinuation = 2;

    /// <summary>
    /// Cuts the tokens of <paramref name="text"/> into consecutive windows: each prompt is BOS (when the model
    /// uses one) and P − 1 tokens of text, its continuation the next C tokens; a shorter last window is kept
    /// when it has a continuation of at least a quarter of C.
    /// </summary>
    public static List<TrainingExample> FromText(Tokenization.Tokenizer tokenizer, string text, int promptLength, int continuationLength, string source = "text")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        var tokens = tokenizer.Encode(text, addSpecial: false);
        var examples = Cut(tokens, Bos(tokenizer), promptLength, continuationLength);
        if (examples.Count == 0)
        {
            var prefix = promptLength - (Bos(tokenizer) >= 0 ? 1 : 0);
            throw new TrainingDataException(
                $"{source} has {tokens.Length} tokens; one example needs at least {prefix + Math.Max(MinContinuation, continuationLength / 4)} " +
                $"({prefix} of prompt and a continuation; see --prompt-length and --continuation-length)");
        }

        return examples;
    }

    /// <summary>
    /// One example per line of a JSONL file with "prompt" and "completion" strings: the prompt's last P tokens
    /// (after BOS), the completion's first C.
    /// </summary>
    public static List<TrainingExample> FromJsonl(Tokenization.Tokenizer tokenizer, IEnumerable<string> lines, int promptLength, int continuationLength, string source = "jsonl")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(lines);
        var examples = new List<TrainingExample>();
        var bos = Bos(tokenizer);
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string prompt, completion;
            try
            {
                using var doc = JsonDocument.Parse(line);
                prompt = Field(doc.RootElement, "prompt");
                completion = Field(doc.RootElement, "completion");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                throw new TrainingDataException($"{source} line {number}: {e.Message}");
            }

            var p = tokenizer.Encode(prompt, addSpecial: false);
            var keep = promptLength - (bos >= 0 ? 1 : 0);
            var promptTokens = (bos >= 0 ? [bos] : Array.Empty<int>()).Concat(p.Skip(Math.Max(0, p.Length - keep))).ToArray();
            var c = tokenizer.Encode(completion, addSpecial: false).Take(continuationLength).ToArray();
            if (promptTokens.Length > 0 && c.Length >= MinContinuation)
            {
                examples.Add(new TrainingExample(promptTokens, c));
            }
        }

        if (examples.Count == 0)
        {
            throw new TrainingDataException($"{source} has no line with a \"prompt\" and a \"completion\" of at least {MinContinuation} tokens");
        }

        return examples;

        static string Field(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()!
                : throw new KeyNotFoundException($"no \"{name}\" string");
    }

    /// <summary>
    /// <paramref name="count"/> texts of up to <paramref name="length"/> tokens sampled from the model itself
    /// (temperature 1 with llama.cpp's default top-k 40, top-p 0.95 and min-p 0.05, which cut the tail a tiny
    /// model's samples otherwise wander into), each from BOS with its own seed, so openings vary; a text ends at
    /// EOS. Deterministic for a given seed.
    /// </summary>
    public static List<int[]> SelfGenerate(LanguageModel model, int count, int length, int seed, int threads, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var texts = new List<int[]>(count);
        var vocab = model.Tokenizer.Vocabulary;
        if (vocab.Bos < 0)
        {
            throw new TrainingDataException("self-generated text starts from BOS, and this model's vocabulary has none; give --text or --jsonl");
        }

        var context = Math.Min(length, model.Config.TrainedContextLength);
        using var session = model.CreateSession(new Model.SessionOptions { ContextLength = context, Threads = threads, KvCacheType = Model.KvCacheType.F32 });
        for (var i = 0; i < count; i++)
        {
            session.Reset();
            var sampler = new Sampler(model.Config.VocabularySize, new SamplerOptions { Temperature = 1f, Seed = unchecked((seed * 7919) + i) });
            var tokens = new List<int>(context) { vocab.Bos };
            var logits = session.Prefill([vocab.Bos]);
            while (tokens.Count < context)
            {
                var next = sampler.Sample(logits);
                sampler.Accept(next);
                if (vocab.IsEndOfGeneration(next))
                {
                    break;
                }

                tokens.Add(next);
                if (tokens.Count < context)
                {
                    logits = session.Decode(next);
                }
            }

            texts.Add([.. tokens]);
            progress?.Invoke(i + 1);
        }

        return texts;
    }

    /// <summary>Examples from token sequences that already start with BOS (as <see cref="SelfGenerate"/> returns them).</summary>
    public static List<TrainingExample> FromSequences(IEnumerable<int[]> sequences, int bos, int promptLength, int continuationLength)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var examples = new List<TrainingExample>();
        foreach (var s in sequences)
        {
            var body = bos >= 0 && s.Length > 0 && s[0] == bos ? s[1..] : s;
            examples.AddRange(Cut(body, bos, promptLength, continuationLength));
        }

        return examples;
    }

    private static int Bos(Tokenization.Tokenizer tokenizer) => tokenizer.Vocabulary.AddBos ? tokenizer.Vocabulary.Bos : -1;

    private static List<TrainingExample> Cut(int[] tokens, int bos, int promptLength, int continuationLength)
    {
        var examples = new List<TrainingExample>();
        var prefix = promptLength - (bos >= 0 ? 1 : 0);
        var minimum = Math.Max(MinContinuation, continuationLength / 4);
        for (var o = 0; o + prefix + minimum <= tokens.Length && prefix >= 0; o += prefix + continuationLength)
        {
            var prompt = (bos >= 0 ? [bos] : Array.Empty<int>()).Concat(tokens.Skip(o).Take(prefix)).ToArray();
            var continuation = tokens.Skip(o + prefix).Take(continuationLength).ToArray();
            if (prompt.Length > 0)
            {
                examples.Add(new TrainingExample(prompt, continuation));
            }
        }

        return examples;
    }
}
