using System.Numerics.Tensors;

namespace First.Cpu.Sampling;

/// <summary>Sampling settings, with llama.cpp's defaults (common/common.h, common_params_sampling).</summary>
public sealed record SamplerOptions
{
    /// <summary>Temperature; 0 or less is greedy (argmax).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set whose probability reaches p; 1 keeps all.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens less likely than min-p × the most likely one; 0 keeps all.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Repetition penalty over the last <see cref="PenaltyLastN"/> tokens; 1 is off.</summary>
    public float RepeatPenalty { get; init; } = 1f;

    /// <summary>Subtracted once per occurrence in the window; 0 is off.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Subtracted once if the token occurs in the window; 0 is off.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Tokens the penalties look back over.</summary>
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>Random seed; null draws one.</summary>
    public int? Seed { get; init; }

    /// <summary>Greedy decoding.</summary>
    public static SamplerOptions Greedy { get; } = new() { Temperature = 0 };
}

/// <summary>
/// Logits → token through llama.cpp's default chain: penalties, top-k, top-p, min-p, temperature, draw
/// (or argmax when the temperature is 0; the first maximum wins, as llama_sampler_greedy). Buffers are
/// allocated once for the vocabulary, so sampling allocates nothing per token.
/// </summary>
public sealed class Sampler
{
    private readonly float[] _logits;
    private readonly float[] _keys;
    private readonly int[] _ids;
    private readonly int[] _counts;
    private readonly int[] _history;
    private readonly Random _random;
    private int _historyCount;
    private int _historyNext;

    /// <summary>A sampler for a vocabulary of <paramref name="vocabularySize"/> tokens.</summary>
    public Sampler(int vocabularySize, SamplerOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabularySize);
        Options = options ?? new SamplerOptions();
        if (Options.TopP is <= 0 or > 1 || Options.MinP is < 0 or > 1 || float.IsNaN(Options.Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "top-p must be in (0, 1], min-p in [0, 1]");
        }

        _logits = new float[vocabularySize];
        _keys = new float[vocabularySize];
        _ids = new int[vocabularySize];
        _counts = new int[vocabularySize];
        _history = new int[Math.Max(0, Options.PenaltyLastN)];
        Seed = Options.Seed ?? Random.Shared.Next();
        _random = new Random(Seed);
    }

    /// <summary>The settings.</summary>
    public SamplerOptions Options { get; }

    /// <summary>The seed in use.</summary>
    public int Seed { get; }

    /// <summary>Remembers a token for the penalties (the prompt's and every generated one).</summary>
    public void Accept(int token)
    {
        if (_history.Length == 0)
        {
            return;
        }

        _history[_historyNext] = token;
        _historyNext = (_historyNext + 1) % _history.Length;
        _historyCount = Math.Min(_historyCount + 1, _history.Length);
    }

    /// <summary>Forgets the accepted tokens.</summary>
    public void Reset() => _historyCount = _historyNext = 0;

    /// <summary>Chooses the next token from <paramref name="logits"/>. Allocates nothing.</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        var n = _logits.Length;
        if (logits.Length != n)
        {
            throw new ArgumentException($"expected {n} logits, got {logits.Length}", nameof(logits));
        }

        var l = _logits.AsSpan();
        logits.CopyTo(l);
        ApplyPenalties(l);
        if (Options.Temperature <= 0)
        {
            return ArgMax(l);
        }

        // Candidates sorted by logit, descending (keys are negated logits). With top-k, only the k best are
        // selected (a bounded min-heap, O(n log k)) and sorted: a 150k vocabulary is not sorted per token.
        var count = Options.TopK > 0 && Options.TopK < n ? SelectTop(l, Options.TopK) : n;
        if (count == n)
        {
            for (var i = 0; i < n; i++)
            {
                _ids[i] = i;
                _keys[i] = -l[i];
            }
        }

        var keys = _keys.AsSpan(0, count);
        keys.Sort(_ids.AsSpan(0, count));

        // Probabilities of the remaining candidates (before temperature, as llama.cpp's top-p and min-p see them).
        var p = _keys.AsSpan(0, count);
        TensorPrimitives.Negate(p, p);
        var max = p[0];
        TensorPrimitives.Subtract(p, max, p);
        TensorPrimitives.Exp(p, p);
        var sum = TensorPrimitives.Sum(p);
        if (Options.TopP < 1)
        {
            var cumulative = 0f;
            for (var i = 0; i < count; i++)
            {
                cumulative += p[i] / sum;
                if (cumulative >= Options.TopP)
                {
                    count = i + 1;
                    break;
                }
            }
        }

        if (Options.MinP > 0)
        {
            var threshold = Options.MinP * p[0];
            var keep = 1;
            while (keep < count && p[keep] >= threshold)
            {
                keep++;
            }

            count = keep;
        }

        // Temperature, then a draw from the softmax over what is left.
        var weights = _keys.AsSpan(0, count);
        for (var i = 0; i < count; i++)
        {
            weights[i] = (l[_ids[i]] - l[_ids[0]]) / Options.Temperature;
        }

        TensorPrimitives.Exp(weights, weights);
        var total = TensorPrimitives.Sum(weights);
        var r = _random.NextDouble() * total;
        for (var i = 0; i < count; i++)
        {
            r -= weights[i];
            if (r <= 0)
            {
                return _ids[i];
            }
        }

        return _ids[count - 1];
    }

    /// <summary>
    /// The <paramref name="k"/> largest logits into _ids/_keys[0..k) (keys negated, unordered); ties keep the
    /// lower id, as a stable sort would.
    /// </summary>
    private int SelectTop(ReadOnlySpan<float> l, int k)
    {
        // Min-heap on (logit, −id) of the k best so far: the root is the weakest kept candidate.
        var ids = _ids;
        var heapCount = 0;
        for (var i = 0; i < l.Length; i++)
        {
            if (heapCount < k)
            {
                var at = heapCount++;
                ids[at] = i;
                while (at > 0 && Weaker(l, ids[at], ids[(at - 1) / 2]))
                {
                    (ids[at], ids[(at - 1) / 2]) = (ids[(at - 1) / 2], ids[at]);
                    at = (at - 1) / 2;
                }
            }
            else if (Weaker(l, ids[0], i))
            {
                ids[0] = i;
                var at = 0;
                while (true)
                {
                    var left = (2 * at) + 1;
                    if (left >= k)
                    {
                        break;
                    }

                    var child = left + 1 < k && Weaker(l, ids[left + 1], ids[left]) ? left + 1 : left;
                    if (!Weaker(l, ids[child], ids[at]))
                    {
                        break;
                    }

                    (ids[at], ids[child]) = (ids[child], ids[at]);
                    at = child;
                }
            }
        }

        // Order by logit descending, then id ascending: sort keys −logit with ids, ties broken by the id pass below.
        for (var i = 0; i < k; i++)
        {
            _keys[i] = -l[ids[i]];
        }

        return k;
    }

    /// <summary>Whether candidate a ranks below b: a lower logit, or the same logit and a higher id.</summary>
    private static bool Weaker(ReadOnlySpan<float> l, int a, int b) => l[a] < l[b] || (l[a] == l[b] && a > b);

    /// <summary>Index of the first largest value.</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    private void ApplyPenalties(Span<float> l)
    {
        var o = Options;
        if (_historyCount == 0 || (o.RepeatPenalty == 1 && o.FrequencyPenalty == 0 && o.PresencePenalty == 0))
        {
            return;
        }

        for (var i = 0; i < _historyCount; i++)
        {
            _counts[_history[i]]++;
        }

        // llama_sampler_penalties: once per distinct token in the window.
        for (var i = 0; i < _historyCount; i++)
        {
            var t = _history[i];
            var c = _counts[t];
            if (c == 0)
            {
                continue;
            }

            l[t] = l[t] <= 0 ? l[t] * o.RepeatPenalty : l[t] / o.RepeatPenalty;
            l[t] -= (c * o.FrequencyPenalty) + o.PresencePenalty;
            _counts[t] = 0;
        }
    }
}
