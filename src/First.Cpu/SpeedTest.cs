using System.Diagnostics;
using First.Cpu.Model;

namespace First.Cpu;

/// <summary>Tokens per second of one test, over repetitions.</summary>
public sealed record SpeedResult(string Test, IReadOnlyList<double> TokensPerSecond)
{
    /// <summary>Mean tokens per second.</summary>
    public double Mean => TokensPerSecond.Average();

    /// <summary>Sample standard deviation.</summary>
    public double StandardDeviation => TokensPerSecond.Count < 2 ? 0
        : Math.Sqrt(TokensPerSecond.Sum(x => (x - Mean) * (x - Mean)) / (TokensPerSecond.Count - 1));
}

/// <summary>
/// llama-bench's two tests on a session: prompt processing (ppN: N random tokens in one prefill) and text
/// generation (tgN: N decode steps from an empty cache, one token each). A warm-up run precedes each test.
/// </summary>
public static class SpeedTest
{
    /// <summary>ppN: prefill of <paramref name="tokens"/> random tokens, <paramref name="repetitions"/> times.</summary>
    public static SpeedResult PromptProcessing(Session session, int tokens, int repetitions, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(session);
        var random = new Random(seed);
        var ids = Enumerable.Range(0, tokens).Select(_ => random.Next(session.Config.VocabularySize)).ToArray();
        var results = new List<double>();
        for (var r = -1; r < repetitions; r++)
        {
            session.Reset();
            var clock = Stopwatch.StartNew();
            session.Prefill(ids);
            if (r >= 0)
            {
                results.Add(tokens / clock.Elapsed.TotalSeconds);
            }
        }

        return new SpeedResult($"pp{tokens}", results);
    }

    /// <summary>
    /// tgN: <paramref name="tokens"/> single-token decode steps from an empty cache, <paramref name="repetitions"/>
    /// times, with the session's <see cref="Session.DecodePlan"/> (skipped layers cost nothing).
    /// </summary>
    public static SpeedResult TextGeneration(Session session, int tokens, int repetitions, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(session);
        var random = new Random(seed);
        var results = new List<double>();
        for (var r = -1; r < repetitions; r++)
        {
            session.Reset();
            session.ReleaseSkippedLayers();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < tokens; i++)
            {
                session.Decode(random.Next(session.Config.VocabularySize));
            }

            if (r >= 0)
            {
                results.Add(tokens / clock.Elapsed.TotalSeconds);
            }
        }

        return new SpeedResult($"tg{tokens}", results);
    }
}
