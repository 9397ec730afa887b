using First.Cpu;
using First.Cpu.Routing.Training;

namespace First.Cli.Commands;

/// <summary>
/// The (prompt, continuation) pairs of <c>train-routers</c> and <c>eval</c>: from exactly one of <c>--text FILE</c>,
/// <c>--jsonl FILE</c> and <c>--self-generate N</c>. Every source refuses to give no example, with a line that says why.
/// </summary>
internal static class ExampleSources
{
    /// <summary>Throws unless exactly one source is given.</summary>
    public static void RequireOne(string? text, string? jsonl, int? selfGenerate)
    {
        if (new object?[] { text, jsonl, selfGenerate }.Count(x => x is not null) != 1)
        {
            throw new CliException("give exactly one of --text FILE, --jsonl FILE and --self-generate N");
        }
    }

    /// <summary>
    /// The examples of the one given source; self-generated texts use <paramref name="seed"/> and
    /// <paramref name="threads"/>, and report their progress on <paramref name="progress"/> when it is given.
    /// </summary>
    public static List<TrainingExample> Load(LanguageModel lm, string? text, string? jsonl, int? selfGenerate, int promptLength, int continuationLength,
        int seed, int threads, TextWriter? progress = null)
    {
        if (text is not null)
        {
            return TrainingData.FromText(lm.Tokenizer, File.ReadAllText(CliErrors.RequireFile(text)), promptLength, continuationLength, text);
        }

        if (jsonl is not null)
        {
            return TrainingData.FromJsonl(lm.Tokenizer, File.ReadLines(CliErrors.RequireFile(jsonl)), promptLength, continuationLength, jsonl);
        }

        var count = selfGenerate!.Value;
        if (count < 1)
        {
            throw new CliException($"--self-generate needs at least 1 text (got {count})");
        }

        var length = promptLength + continuationLength;
        progress?.Write($"self-generating {count} texts of up to {length} tokens: ");
        var texts = TrainingData.SelfGenerate(lm, count, length, seed, threads,
            progress is null ? null : i => { if (i % Math.Max(1, count / 10) == 0) { progress.Write($"{i} "); } });
        progress?.WriteLine();
        var bos = lm.Tokenizer.Vocabulary.AddBos ? lm.Tokenizer.Vocabulary.Bos : -1;
        var examples = TrainingData.FromSequences(texts, bos, promptLength, continuationLength);
        return examples.Count > 0 ? examples : throw new TrainingDataException($"the {count} self-generated texts were too short for one example; lower --prompt-length");
    }
}
