using System.Diagnostics;
using First.Cpu.Model;
using First.Cpu.Routing.Training;
using First.Cpu.Sampling;

namespace First.Cpu.Routing.Evaluation;

/// <summary>A way of choosing the layers decoding skips (shared/FIRST.md, Evaluation).</summary>
public enum SkipMethod
{
    /// <summary>No skipping.</summary>
    Dense,

    /// <summary>Trained routers, per prompt: the k routed layers with the lowest mean score.</summary>
    First,

    /// <summary>
    /// The same routers' decisions with the LoRA adapters their file carries (FiRST's second stage), applied in every pass
    /// that skips; measured only when the router file has adapters.
    /// </summary>
    FirstLora,

    /// <summary>Trained routers with their own threshold tau: as many layers as they choose.</summary>
    FirstTau,

    /// <summary>ShortGPT's Block Influence: the k layers whose output is most similar (cosine) to their input, measured once on calibration text.</summary>
    StaticBi,

    /// <summary>Unified Layer Skipping-style: k layers spread evenly over the routed (middle) layers, the same for every input.</summary>
    BalancedMiddle,

    /// <summary>k routed layers drawn per prompt, averaged over several seeds.</summary>
    Random,

    /// <summary>
    /// A ceiling, not a method: per prompt, the set of k routed layers whose skipping gives the lowest KL on the
    /// continuation (it looks at the continuation, which no router can). Measured only where there are few sets.
    /// </summary>
    Oracle,
}

/// <summary>Settings of <see cref="SkipEvaluation"/>.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Numbers of skipped layers compared.</summary>
    public IReadOnlyList<int> SkipCounts { get; init; } = [1, 2];

    /// <summary>Seeds the random baseline is averaged over.</summary>
    public int RandomSeeds { get; init; } = 3;

    /// <summary>Greedy tokens compared with dense.</summary>
    public int GreedyTokens { get; init; } = 32;

    /// <summary>Threads.</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>The oracle row is measured at a skip count with at most this many layer sets (0: never).</summary>
    public int OracleSetLimit { get; init; } = 10;

    /// <summary>Threshold of the FirstTau method (default: the router file's).</summary>
    public float Tau { get; init; } = 0.5f;
}

/// <summary>The averages of one method at one skip count.</summary>
public sealed record MethodResult(
    SkipMethod Method, int SkipCount, double MeanSkipped, double Perplexity, double Kl, double Agreement,
    double DecodeTokensPerSecond, double SpeedUp, double DistinctSetFraction);

/// <summary>Everything an evaluation found: the table, each prompt's FiRST layer sets and the BI ranking.</summary>
public sealed record EvaluationReport(
    IReadOnlyList<MethodResult> Results, IReadOnlyList<IReadOnlyList<int>> FirstTauSets,
    IReadOnlyDictionary<int, IReadOnlyList<IReadOnlyList<int>>> FirstSets, IReadOnlyList<int> BiOrder, int Examples);

/// <summary>
/// Compares dense, FiRST and the baselines at equal numbers of skipped layers on held-out (prompt, continuation)
/// pairs. Every method runs the prompt dense (filling every layer's cache, as FiRST inference does) and the
/// continuation with its plan: perplexity of the continuation, KL(dense ‖ method) at every continuation token,
/// agreement of greedy tokens with dense's, and decode speed of that greedy generation.
/// </summary>
public sealed class SkipEvaluation
{
    private readonly LanguageModel _model;
    private readonly RouterSet _routers;
    private readonly EvaluationOptions _options;

    /// <summary>An evaluation of <paramref name="routers"/> on <paramref name="model"/>.</summary>
    public SkipEvaluation(LanguageModel model, RouterSet routers, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(options);
        var routed = routers.RoutedLayers.Count;
        foreach (var k in options.SkipCounts)
        {
            if (k < 1 || k > routed)
            {
                throw new ArgumentException($"skip count {k} is outside 1..{routed} (the routed layers)");
            }
        }

        _model = model;
        _routers = routers;
        _options = options;
    }

    /// <summary>
    /// Block Influence of each routed layer: mean cosine similarity of the residual entering the layer and the one
    /// leaving it over the calibration prompts' tokens; returns the routed layers most similar first (those a
    /// static method skips first). A last layer, whose output is not a layer input, is ranked last.
    /// </summary>
    public IReadOnlyList<int> BlockInfluenceOrder(IReadOnlyList<TrainingExample> calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        var c = _model.Config;
        var similarity = new double[c.LayerCount];
        var count = 0;
        using var pass = new GatedTransformer(_model.Weights, calibration.Max(e => e.Prompt.Length), 1, _options.Threads, routerHidden: 0);
        foreach (var e in calibration)
        {
            pass.Prompt(e.Prompt);
            for (var t = 0; t < e.Prompt.Length; t++)
            {
                for (var l = 0; l + 1 < c.LayerCount; l++)
                {
                    similarity[l] += System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(pass.PromptInput(l, t), pass.PromptInput(l + 1, t));
                }
            }

            count += e.Prompt.Length;
        }

        return [.. _routers.RoutedLayers.OrderByDescending(l => l + 1 < c.LayerCount ? similarity[l] / count : double.NegativeInfinity).ThenBy(l => l)];
    }

    /// <summary>Runs every method at every skip count on <paramref name="examples"/>; <paramref name="progress"/> hears (done, total) examples.</summary>
    public EvaluationReport Run(IReadOnlyList<TrainingExample> examples, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new TrainingDataException("no evaluation example");
        }

        var c = _model.Config;
        var routed = _routers.RoutedLayers;
        var biOrder = BlockInfluenceOrder(examples);
        var capacity = examples.Max(e => e.Prompt.Length + Math.Max(e.Continuation.Length, _options.GreedyTokens));
        using var session = _model.CreateSession(new SessionOptions { ContextLength = capacity, Threads = _options.Threads });
        var sums = new Dictionary<(SkipMethod, int), Accumulator>();
        var firstSets = _options.SkipCounts.ToDictionary(k => k, _ => new List<IReadOnlyList<int>>());
        var tauSets = new List<IReadOnlyList<int>>();
        var done = 0;
        foreach (var e in examples)
        {
            // Methods often choose the same set (and the oracle tries every set): each set is measured once per example.
            var measured = new Dictionary<string, Measurement>();
            Measurement Of(LayerPlan plan, bool adapted = false)
            {
                var key = plan.ToString() + (adapted ? " + LoRA" : "");
                if (!measured.TryGetValue(key, out var m))
                {
                    session.Adapters = adapted ? _routers.Adapters : null;
                    measured[key] = m = Measure(session, e, plan);
                    session.Adapters = null;
                }

                return m;
            }

            var dense = Of(LayerPlan.Dense(c.LayerCount));
            Add(sums, (SkipMethod.Dense, 0), dense, dense);

            var means = RouterMeans(session, e.Prompt);
            var tauPlan = RoutingDecision.Decide(_routers, means, new RoutingOptions { Tau = _options.Tau });
            tauSets.Add(tauPlan.Skipped);
            Add(sums, (SkipMethod.FirstTau, 0), Of(tauPlan), dense);
            foreach (var k in _options.SkipCounts)
            {
                var firstPlan = RoutingDecision.Decide(_routers, means, new RoutingOptions { Tau = _options.Tau, MinSkip = k, MaxSkip = k });
                firstSets[k].Add(firstPlan.Skipped);
                Add(sums, (SkipMethod.First, k), Of(firstPlan), dense);
                if (_routers.Adapters is not null)
                {
                    Add(sums, (SkipMethod.FirstLora, k), Of(firstPlan, adapted: true), dense);
                }

                Add(sums, (SkipMethod.StaticBi, k), Of(LayerPlan.Skipping(c.LayerCount, biOrder.Take(k))), dense);
                Add(sums, (SkipMethod.BalancedMiddle, k), Of(LayerPlan.Skipping(c.LayerCount, BalancedMiddle(routed, k))), dense);
                var sets = Combinations(routed, k);
                if (sets.Count <= _options.OracleSetLimit)
                {
                    var best = sets.Select(set => Of(LayerPlan.Skipping(c.LayerCount, set))).MinBy(m => Kl(m, dense))!;
                    Add(sums, (SkipMethod.Oracle, k), best, dense);
                }

                for (var s = 0; s < _options.RandomSeeds; s++)
                {
                    Add(sums, (SkipMethod.Random, k), Of(LayerPlan.Skipping(c.LayerCount, RandomLayers(routed, k, done, s))), dense);
                }
            }

            progress?.Invoke(++done, examples.Count);
        }

        var denseSpeed = sums[(SkipMethod.Dense, 0)].TokensPerSecond;
        var results = new List<MethodResult>();
        foreach (var ((method, k), a) in sums.OrderBy(p => p.Key.Item2).ThenBy(p => p.Key.Item1))
        {
            var sets = method switch
            {
                SkipMethod.First or SkipMethod.FirstLora => Distinct(firstSets[k]),
                SkipMethod.FirstTau => Distinct(tauSets),
                _ => 0,
            };
            results.Add(new MethodResult(method, k, a.Skipped / a.Count, Math.Exp(a.Nll / a.Tokens), a.Kl / a.Tokens, (double)a.Agree / a.Greedy,
                a.TokensPerSecond, a.TokensPerSecond / denseSpeed, sets));
        }

        return new EvaluationReport(results, tauSets, firstSets.ToDictionary(p => p.Key, p => (IReadOnlyList<IReadOnlyList<int>>)p.Value), biOrder, examples.Count);
    }

    /// <summary>k of the routed layers spread evenly: the middle one of each of k equal parts.</summary>
    public static IReadOnlyList<int> BalancedMiddle(IReadOnlyList<int> routed, int k)
    {
        ArgumentNullException.ThrowIfNull(routed);
        return [.. Enumerable.Range(0, k).Select(i => routed[(int)(((i + 0.5) * routed.Count) / k)]).Distinct()];
    }

    /// <summary>
    /// k routed layers drawn uniformly for one (example, seed): a partial Fisher–Yates shuffle driven by a SplitMix-mixed
    /// seed. (Random seeded with nearby integers gives correlated first draws: sorting by them picked the same
    /// pair of 3 layers for every example.)
    /// </summary>
    public static IReadOnlyList<int> RandomLayers(IReadOnlyList<int> routed, int k, int example, int seed)
    {
        ArgumentNullException.ThrowIfNull(routed);
        var random = new Random(unchecked((int)RouterTrainer.Mix(RouterTrainer.Mix((ulong)example, (ulong)seed), (ulong)k)));
        var pool = routed.ToArray();
        for (var i = 0; i < k; i++)
        {
            var j = i + random.Next(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }

        return pool[..k];
    }

    /// <summary>The fraction of pairs of prompts whose layer sets differ (input adaptivity).</summary>
    public static double Distinct(IReadOnlyList<IReadOnlyList<int>> sets)
    {
        ArgumentNullException.ThrowIfNull(sets);
        var pairs = 0;
        var differ = 0;
        for (var i = 0; i < sets.Count; i++)
        {
            for (var j = i + 1; j < sets.Count; j++)
            {
                pairs++;
                differ += sets[i].SequenceEqual(sets[j]) ? 0 : 1;
            }
        }

        return pairs == 0 ? 0 : (double)differ / pairs;
    }

    private float[] RouterMeans(Session session, int[] prompt)
    {
        session.Reset();
        session.PrefillPlan = session.DecodePlan = LayerPlan.Dense(_model.Config.LayerCount);
        session.Routers = _routers;
        session.RoutingOptions = new RoutingOptions { Tau = _options.Tau };
        try
        {
            session.Prefill(prompt);
            return [.. session.RouterMeans];
        }
        finally
        {
            session.Routers = null;
        }
    }

    /// <summary>One plan on one example: the continuation's log-probabilities and the greedy tokens.</summary>
    private Measurement Measure(Session session, TrainingExample e, LayerPlan plan)
    {
        var v = _model.Config.VocabularySize;
        var n = e.Continuation.Length;

        // Teacher-forced continuation: the prompt's last logits predict token 0, the continuation's own the rest.
        session.Reset();
        session.PrefillPlan = LayerPlan.Dense(plan.LayerCount);
        session.DecodePlan = plan;
        var logProbs = new float[n * v];
        var promptLogits = session.Prefill(e.Prompt).ToArray();
        RouterObjective.LogSoftmaxRows(promptLogits, logProbs.AsSpan(0, v), v);
        if (n > 1)
        {
            var logits = new float[(n - 1) * v];
            session.PrefillPlan = plan;
            session.EvaluateAll(e.Continuation.AsSpan(0, n - 1), logits);
            RouterObjective.LogSoftmaxRows(logits, logProbs.AsSpan(v), v);
        }

        var nll = 0.0;
        for (var t = 0; t < n; t++)
        {
            nll -= logProbs[(t * v) + e.Continuation[t]];
        }

        // Greedy generation from the prompt, timed (decode only): the prompt's cache is kept, the continuation forgotten.
        session.Truncate(e.Prompt.Length);
        session.ReleaseSkippedLayers();
        ReadOnlySpan<float> last = promptLogits;
        var greedy = new int[_options.GreedyTokens];
        var clock = Stopwatch.GetTimestamp();
        for (var i = 0; i < greedy.Length; i++)
        {
            greedy[i] = Sampler.ArgMax(last);
            if (i + 1 < greedy.Length)
            {
                last = session.Decode(greedy[i]);
            }
        }

        var seconds = Stopwatch.GetElapsedTime(clock).TotalSeconds;
        return new Measurement(logProbs, nll, n, greedy, Math.Max(1, greedy.Length - 1), seconds, plan.SkippedCount);
    }

    private static void Add(Dictionary<(SkipMethod, int), Accumulator> sums, (SkipMethod, int) key, Measurement m, Measurement dense)
    {
        if (!sums.TryGetValue(key, out var a))
        {
            sums[key] = a = new Accumulator();
        }

        var kl = Kl(m, dense);
        a.Count++;
        a.Skipped += m.Skipped;
        a.Nll += m.Nll;
        a.Kl += kl;
        a.Tokens += m.Tokens;
        a.Agree += m.Greedy.Zip(dense.Greedy).Count(p => p.First == p.Second);
        a.Greedy += m.Greedy.Length;
        a.DecodeTokens += m.DecodeTokens;
        a.DecodeSeconds += m.DecodeSeconds;
    }

    /// <summary>Σ over continuation tokens of KL(dense ‖ m).</summary>
    private static double Kl(Measurement m, Measurement dense)
    {
        var kl = 0.0;
        for (var i = 0; i < m.LogProbs.Length; i++)
        {
            var lp = dense.LogProbs[i];
            kl += Math.Exp(lp) * (lp - m.LogProbs[i]);
        }

        return kl;
    }

    /// <summary>Every set of k of <paramref name="items"/>, in lexicographic order (stops early past 1000 sets).</summary>
    internal static List<int[]> Combinations(IReadOnlyList<int> items, int k)
    {
        var result = new List<int[]>();
        var chosen = new int[k];
        void Walk(int start, int depth)
        {
            if (result.Count > 1000)
            {
                return;
            }

            if (depth == k)
            {
                result.Add([.. chosen]);
                return;
            }

            for (var i = start; i <= items.Count - (k - depth); i++)
            {
                chosen[depth] = items[i];
                Walk(i + 1, depth + 1);
            }
        }

        Walk(0, 0);
        return result;
    }

    private sealed record Measurement(float[] LogProbs, double Nll, int Tokens, int[] Greedy, int DecodeTokens, double DecodeSeconds, int Skipped);

    private sealed class Accumulator
    {
        public int Count;
        public double Skipped;
        public double Nll;
        public double Kl;
        public long Tokens;
        public long Agree;
        public long Greedy;
        public long DecodeTokens;
        public double DecodeSeconds;

        public double TokensPerSecond => DecodeTokens / Math.Max(DecodeSeconds, 1e-12);
    }
}
