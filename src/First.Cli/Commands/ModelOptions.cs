using System.CommandLine;
using First.Cpu.Model;
using First.Cpu.Sampling;

namespace First.Cli.Commands;

/// <summary>Flags shared by the commands that run a model, named as llama.cpp names them.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model", "-m") { Description = "GGUF model file", Required = true };

    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "Threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };

    public Option<int> Context { get; } = new("--ctx-size", "-c") { Description = "Context size (0: the model's, at most 4096)", DefaultValueFactory = _ => 0 };

    public Option<int> Batch { get; } = new("--batch-size", "-b") { Description = "Tokens per prefill pass", DefaultValueFactory = _ => 64 };

    public Option<string> CacheType { get; } = new("--cache-type", "-ctk") { Description = "KV cache type: f16 or f32", DefaultValueFactory = _ => "f16" };

    public Option<string?> SkipLayers { get; } = new("--skip-layers") { Description = "Layers decoding skips, e.g. 3,5,7 (a forced FiRST plan)" };

    public Option<bool> SkipInPrefill { get; } = new("--skip-in-prefill") { Description = "Skip those layers during prefill too" };

    public void AddTo(Command command)
    {
        command.Options.Add(SkipLayers);
        command.Options.Add(SkipInPrefill);
        command.Options.Add(Model);
        command.Options.Add(Threads);
        command.Options.Add(Context);
        command.Options.Add(Batch);
        command.Options.Add(CacheType);
    }

    /// <summary>Sets the session's plans from --skip-layers / --skip-in-prefill.</summary>
    public void ApplyPlan(ParseResult r, Session session)
    {
        var text = r.GetValue(SkipLayers);
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        session.DecodePlan = ParseSkipLayers(text, session.Config.LayerCount);
        if (r.GetValue(SkipInPrefill))
        {
            session.PrefillPlan = session.DecodePlan;
        }
    }

    /// <summary>A --skip-layers list ("3,5,7") as a plan; a layer outside the model, or all of them, is a one-line error.</summary>
    public static LayerPlan ParseSkipLayers(string text, int layerCount)
    {
        var layers = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var l) || l >= layerCount)
            {
                throw new CliException($"--skip-layers: '{part}' is not a layer of this model (0..{layerCount - 1})");
            }

            layers.Add(l);
        }

        if (layers.Distinct().Count() >= layerCount)
        {
            throw new CliException($"--skip-layers: skipping all {layerCount} layers leaves nothing to run");
        }

        return LayerPlan.Skipping(layerCount, layers);
    }

    public SessionOptions Session(ParseResult r)
    {
        var threads = r.GetValue(Threads);
        var ctx = r.GetValue(Context);
        var batch = r.GetValue(Batch);
        if (threads < 1)
        {
            throw new CliException($"--threads must be 1 or more, not {threads}");
        }

        if (ctx < 0)
        {
            throw new CliException($"--ctx-size must be 0 or more, not {ctx}");
        }

        if (batch < 1)
        {
            throw new CliException($"--batch-size must be 1 or more, not {batch}");
        }

        var type = r.GetValue(CacheType) switch
        {
            "f16" => KvCacheType.F16,
            "f32" => KvCacheType.F32,
            var other => throw new CliException($"--cache-type must be f16 or f32, not '{other}'"),
        };
        return new SessionOptions { Threads = threads, ContextLength = ctx, BatchSize = batch, KvCacheType = type };
    }
}

/// <summary>Sampling flags (llama.cpp's names and defaults).</summary>
internal sealed class SamplingOptions
{
    public Option<float> Temperature { get; } = new("--temp") { Description = "Temperature (0: greedy)", DefaultValueFactory = _ => 0.8f };

    public Option<int> TopK { get; } = new("--top-k") { Description = "Top-k (0: off)", DefaultValueFactory = _ => 40 };

    public Option<float> TopP { get; } = new("--top-p") { Description = "Top-p (1: off)", DefaultValueFactory = _ => 0.95f };

    public Option<float> MinP { get; } = new("--min-p") { Description = "Min-p (0: off)", DefaultValueFactory = _ => 0.05f };

    public Option<float> RepeatPenalty { get; } = new("--repeat-penalty") { Description = "Repetition penalty (1: off)", DefaultValueFactory = _ => 1f };

    public Option<int> RepeatLastN { get; } = new("--repeat-last-n") { Description = "Tokens the penalties look back over", DefaultValueFactory = _ => 64 };

    public Option<float> FrequencyPenalty { get; } = new("--frequency-penalty") { Description = "Frequency penalty (0: off)", DefaultValueFactory = _ => 0f };

    public Option<float> PresencePenalty { get; } = new("--presence-penalty") { Description = "Presence penalty (0: off)", DefaultValueFactory = _ => 0f };

    public Option<int?> Seed { get; } = new("--seed", "-s") { Description = "Random seed (default: random)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Temperature);
        command.Options.Add(TopK);
        command.Options.Add(TopP);
        command.Options.Add(MinP);
        command.Options.Add(RepeatPenalty);
        command.Options.Add(RepeatLastN);
        command.Options.Add(FrequencyPenalty);
        command.Options.Add(PresencePenalty);
        command.Options.Add(Seed);
    }

    public SamplerOptions Sampler(ParseResult r)
    {
        var topP = r.GetValue(TopP);
        var minP = r.GetValue(MinP);
        var lastN = r.GetValue(RepeatLastN);
        if (topP is <= 0 or > 1)
        {
            throw new CliException($"--top-p must be in (0, 1], not {topP}");
        }

        if (minP is < 0 or > 1)
        {
            throw new CliException($"--min-p must be in [0, 1], not {minP}");
        }

        if (lastN < 0)
        {
            throw new CliException($"--repeat-last-n must be 0 or more, not {lastN}");
        }

        return new SamplerOptions
        {
            Temperature = r.GetValue(Temperature),
            TopK = r.GetValue(TopK),
            TopP = topP,
            MinP = minP,
            RepeatPenalty = r.GetValue(RepeatPenalty),
            PenaltyLastN = lastN,
            FrequencyPenalty = r.GetValue(FrequencyPenalty),
            PresencePenalty = r.GetValue(PresencePenalty),
            Seed = r.GetValue(Seed),
        };
    }
}

/// <summary>A bad flag value, reported as one line.</summary>
internal sealed class CliException(string message) : Exception(message);
