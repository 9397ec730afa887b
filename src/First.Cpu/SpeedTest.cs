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
/// generation (tgN: N decode steps, one token each), from an empty cache or, as llama-bench's <c>-d</c>, after a
/// depth of random tokens prefilled untimed ("tgN @ dD"). A warm-up run precedes each test.
/// </summary>
public static class SpeedTest
{
    /// <summary>ppN: prefill of <paramref name="tokens"/> random tokens after <paramref name="depth"/> others, <paramref name="repetitions"/> times.</summary>
    public static SpeedResult PromptProcessing(Session session, int tokens, int repetitions, int seed = 42, int depth = 0)
    {
        ArgumentNullException.ThrowIfNull(session);
        var random = new Random(seed);
        var ids = RandomTokens(session, tokens, random);
        var context = RandomTokens(session, depth, random);
        var results = new List<double>();
        for (var r = -1; r < repetitions; r++)
        {
            session.Reset();
            Fill(session, context);
            var clock = Stopwatch.StartNew();
            session.Prefill(ids);
            if (r >= 0)
            {
                results.Add(tokens / clock.Elapsed.TotalSeconds);
            }
        }

        return new SpeedResult(TestName($"pp{tokens}", depth), results);
    }

    /// <summary>
    /// tgN: <paramref name="tokens"/> single-token decode steps after <paramref name="depth"/> prefilled tokens (0: from
    /// an empty cache), <paramref name="repetitions"/> times, with the session's <see cref="Session.DecodePlan"/>
    /// (skipped layers cost nothing).
    /// </summary>
    public static SpeedResult TextGeneration(Session session, int tokens, int repetitions, int seed = 42, int depth = 0)
    {
        ArgumentNullException.ThrowIfNull(session);
        var random = new Random(seed);
        var context = RandomTokens(session, depth, random);
        var results = new List<double>();
        for (var r = -1; r < repetitions; r++)
        {
            session.Reset();
            Fill(session, context);
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

        return new SpeedResult(TestName($"tg{tokens}", depth), results);
    }

    /// <summary>llama-bench's test name: "tg32", or "tg32 @ d512" after a depth.</summary>
    public static string TestName(string test, int depth) => depth > 0 ? $"{test} @ d{depth}" : test;

    private static int[] RandomTokens(Session session, int count, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return [.. Enumerable.Range(0, count).Select(_ => random.Next(session.Config.VocabularySize))];
    }

    private static void Fill(Session session, int[] context)
    {
        if (context.Length > 0)
        {
            session.Prefill(context);
        }
    }
}
