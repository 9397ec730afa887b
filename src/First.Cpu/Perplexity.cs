using First.Cpu.Model;

namespace First.Cpu;

/// <summary>The running estimate after a chunk.</summary>
public sealed record PerplexityResult(int Chunks, int Scored, double Value, double Uncertainty);

/// <summary>
/// Perplexity as llama-perplexity computes it: the text is tokenized with BOS, cut into chunks of
/// the context length; each chunk starts with BOS and is evaluated from an empty cache; only the second
/// half of each chunk is scored (every scored token has at least half a context before it), each as
/// −log softmax(logits of the previous position)[token], summed in double.
/// </summary>
public static class Perplexity
{
    /// <summary>Scores <paramref name="tokens"/>; <paramref name="onChunk"/> sees the estimate after every chunk.</summary>
    /// <exception cref="ArgumentException">Fewer than two contexts' worth of tokens.</exception>
    public static PerplexityResult Evaluate(Session session, IReadOnlyList<int> tokens, int context, int bos, Action<PerplexityResult>? onChunk = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(tokens);
        if (context < 2 || context > session.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(context), context, $"the context must be 2..{session.ContextLength}");
        }

        if (tokens.Count < 2 * context)
        {
            throw new ArgumentException($"the text has {tokens.Count} tokens; perplexity with a context of {context} needs at least {2 * context}");
        }

        var vocabulary = session.Config.VocabularySize;
        var logits = new float[context * vocabulary];
        var chunk = new int[context];
        double nll = 0, nll2 = 0;
        var count = 0;
        var chunks = tokens.Count / context;
        PerplexityResult result = new(0, 0, double.NaN, double.NaN);
        for (var c = 0; c < chunks; c++)
        {
            for (var i = 0; i < context; i++)
            {
                chunk[i] = tokens[(c * context) + i];
            }

            if (bos >= 0)
            {
                chunk[0] = bos;
            }

            session.Reset();
            session.EvaluateAll(chunk, logits);
            for (var i = context / 2; i < context - 1; i++)
            {
                var row = logits.AsSpan(i * vocabulary, vocabulary);
                var next = tokens[(c * context) + i + 1];
                var loss = -LogSoftmax(row, next);
                nll += loss;
                nll2 += loss * loss;
                count++;
            }

            var mean = nll / count;
            var variance = (nll2 / count) - (mean * mean);
            var ppl = Math.Exp(mean);
            var error = count > 1 && variance > 0 ? ppl * Math.Sqrt(variance / (count - 1)) : 0;
            result = new PerplexityResult(c + 1, count, ppl, error);
            onChunk?.Invoke(result);
        }

        return result;
    }

    private static double LogSoftmax(ReadOnlySpan<float> logits, int token)
    {
        var max = float.NegativeInfinity;
        foreach (var l in logits)
        {
            max = MathF.Max(max, l);
        }

        var sum = 0.0;
        foreach (var l in logits)
        {
            sum += Math.Exp(l - max);
        }

        return logits[token] - max - Math.Log(sum);
    }
}
