using System.CommandLine;
using System.Globalization;
using System.Text;
using First.Cli.Plotting;
using Panel = First.Cli.Plotting.Panel;
using First.Cpu;
using First.Cpu.Routing;
using First.Cpu.Routing.Evaluation;
using First.Cpu.Routing.Training;
using Spectre.Console;

namespace First.Cli.Commands;

/// <summary>
/// <c>first eval -m MODEL --routers R (--text F | --jsonl F | --self-generate N) [--skip-counts 1,2]</c>: dense, FiRST, static BI,
/// balanced middle and random at equal numbers of skipped layers (shared/FIRST.md, Evaluation); writes a markdown
/// table and a PNG plot.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model file", Required = true };
        var routers = new Option<string>("--routers") { Description = "Router file (first train-routers)", Required = true };
        var text = new Option<string?>("--text") { Description = "Held-out text, cut into (prompt, continuation) pairs" };
        var jsonl = new Option<string?>("--jsonl") { Description = "Held-out JSONL file with \"prompt\" and \"completion\" strings, one pair per line" };
        var selfGenerate = new Option<int?>("--self-generate") { Description = "Evaluate on N texts sampled from the model (use another --seed than training)" };
        var skipCounts = new Option<string?>("--skip-counts") { Description = "Numbers of skipped layers to compare, e.g. 1,2,3 (default: 1 up to the routed layers, at most 8)" };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed of self-generated text and of the random baseline", DefaultValueFactory = _ => 1234 };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var promptLength = new Option<int>("--prompt-length") { Description = "Prompt tokens per example", DefaultValueFactory = _ => 64 };
        var continuationLength = new Option<int>("--continuation-length") { Description = "Continuation tokens per example", DefaultValueFactory = _ => 64 };
        var maxExamples = new Option<int>("--max-examples") { Description = "Evaluate at most this many examples (0: all)", DefaultValueFactory = _ => 0 };
        var tau = new Option<float?>("--tau") { Description = "Threshold of the 'FiRST tau' row (default: the router file's)" };
        var output = new Option<string>("--output", "-o") { Description = "Output prefix: PREFIX.md and PREFIX.png", DefaultValueFactory = _ => "eval" };

        var command = new Command("eval", "Compare FiRST with dense and baseline layer-skipping methods on held-out text");
        foreach (var o in new Option[] { model, routers, text, jsonl, selfGenerate, skipCounts, seed, threads, promptLength, continuationLength, maxExamples, tau, output })
        {
            command.Options.Add(o);
        }

        command.SetAction(r => CliErrors.Run(() =>
        {
            ExampleSources.RequireOne(r.GetValue(text), r.GetValue(jsonl), r.GetValue(selfGenerate));

            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model)!));
            var (set, fileTau) = RouterFile.Read(CliErrors.RequireFile(r.GetValue(routers)!), lm, Console.Error);
            var p = r.GetValue(promptLength);
            var n = r.GetValue(continuationLength);
            if (p < 1 || n < 2)
            {
                throw new CliException($"--prompt-length must be at least 1 and --continuation-length at least 2 (got {p}, {n})");
            }

            var counts = r.GetValue(skipCounts) is { } list
                ? ParseCounts(list)
                : [.. Enumerable.Range(1, Math.Min(set.RoutedLayers.Count, 8))];
            var options = new EvaluationOptions { SkipCounts = counts, Threads = r.GetValue(threads), Tau = r.GetValue(tau) ?? fileTau };
            SkipEvaluation evaluation;
            try
            {
                evaluation = new SkipEvaluation(lm, set, options);
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message);
            }

            var examples = ExampleSources.Load(lm, r.GetValue(text), r.GetValue(jsonl), r.GetValue(selfGenerate), p, n, r.GetValue(seed), options.Threads);
            if (r.GetValue(maxExamples) is > 0 and var max && examples.Count > max)
            {
                examples = examples.Take(max).ToList();
            }

            Console.Error.WriteLine($"eval: {examples.Count} examples, skip counts {string.Join(',', counts)}, routed layers {string.Join(',', set.RoutedLayers)}, tau {options.Tau}");
            EvaluationReport report = null!;
            if (Console.IsErrorRedirected)
            {
                report = evaluation.Run(examples);
            }
            else
            {
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("evaluating", maxValue: examples.Count);
                        report = evaluation.Run(examples, (done, _) => task.Value = done);
                    });
            }

            var prefix = r.GetValue(output)!;
            var markdown = Markdown(report, lm, r.GetValue(routers)!, r.GetValue(text) ?? r.GetValue(jsonl) ?? $"{r.GetValue(selfGenerate)} self-generated texts (seed {r.GetValue(seed)})");
            File.WriteAllText(prefix + ".md", markdown);
            PngChart.Write(prefix + ".png", Panels(report));
            Console.Write(markdown);
            Console.Error.WriteLine($"wrote {prefix}.md and {prefix}.png");
            return 0;
        }));
        return command;
    }

    private static string Name(SkipMethod m) => m switch
    {
        SkipMethod.Dense => "dense",
        SkipMethod.First => "FiRST",
        SkipMethod.FirstLora => "FiRST + LoRA",
        SkipMethod.FirstTau => "FiRST (tau)",
        SkipMethod.StaticBi => "static BI",
        SkipMethod.BalancedMiddle => "balanced middle",
        SkipMethod.Oracle => "oracle (ceiling)",
        _ => "random",
    };

    private static string Markdown(EvaluationReport report, LanguageModel lm, string routers, string data)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"Model {lm.Config.ArchitectureName}, {lm.Config.LayerCount} layers; routers {Path.GetFileName(routers)}; {report.Examples} held-out examples from {data}.");
        sb.AppendLine();
        sb.AppendLine("| method | k | mean skipped | PPL | KL to dense | greedy agreement | decode t/s | speed-up | prompt pairs with different sets |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var x in report.Results)
        {
            var distinct = x.Method is SkipMethod.First or SkipMethod.FirstLora or SkipMethod.FirstTau ? x.DistinctSetFraction.ToString("P0", inv) : "";
            sb.AppendLine(inv, $"| {Name(x.Method)} | {(x.Method is SkipMethod.Dense or SkipMethod.FirstTau ? "" : x.SkipCount)} | {x.MeanSkipped:F2} | {x.Perplexity:F3} | {x.Kl:F4} | {x.Agreement:P1} | {x.DecodeTokensPerSecond:F0} | {x.SpeedUp:F2} | {distinct} |");
        }

        sb.AppendLine();
        if (report.Results.Any(x => x.Method == SkipMethod.Oracle))
        {
            sb.AppendLine("The oracle row is a ceiling, not a method: per prompt, the layer set with the lowest KL on the continuation itself.");
            sb.AppendLine();
        }

        sb.AppendLine(inv, $"Static BI order (most similar input and output first): {string.Join(", ", report.BiOrder)}.");
        sb.AppendLine();
        sb.AppendLine("Layer sets FiRST chose per prompt (how often each set occurs):");
        sb.AppendLine();
        Sets(sb, "tau", report.FirstTauSets);
        foreach (var (k, sets) in report.FirstSets.OrderBy(p => p.Key))
        {
            Sets(sb, $"k = {k}", sets);
        }

        return sb.ToString();

        static void Sets(StringBuilder sb, string label, IReadOnlyList<IReadOnlyList<int>> sets)
        {
            var groups = sets.GroupBy(s => s.Count == 0 ? "none" : "{" + string.Join(',', s) + "}").OrderByDescending(g => g.Count()).Select(g => $"{g.Key} × {g.Count()}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {label}: {string.Join(", ", groups)}");
        }
    }

    private static Panel[] Panels(EvaluationReport report)
    {
        var colors = new Dictionary<SkipMethod, (byte, byte, byte)>
        {
            [SkipMethod.First] = (214, 39, 40),
            [SkipMethod.FirstLora] = (140, 86, 75),
            [SkipMethod.StaticBi] = (31, 119, 180),
            [SkipMethod.BalancedMiddle] = (44, 160, 44),
            [SkipMethod.Random] = (127, 127, 127),
            [SkipMethod.FirstTau] = (255, 127, 14),
            [SkipMethod.Oracle] = (148, 103, 189),
        };
        var dense = report.Results.First(x => x.Method == SkipMethod.Dense);
        Panel Make(string title, Func<MethodResult, double> value) => new(title, "layers skipped", "",
            [.. colors.Where(c => report.Results.Any(x => x.Method == c.Key)).Select(c => new Series(Name(c.Key), c.Value,
                c.Key == SkipMethod.FirstTau
                    ? [.. report.Results.Where(x => x.Method == c.Key).Select(x => (x.MeanSkipped, value(x)))]
                    : [(0, value(dense)), .. report.Results.Where(x => x.Method == c.Key).Select(x => ((double)x.SkipCount, value(x)))]))]);
        return [Make("KL to dense", x => x.Kl), Make("perplexity", x => x.Perplexity)];
    }

    private static int[] ParseCounts(string list) =>
        [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : throw new CliException($"--skip-counts: '{s}' is not a number"))];
}
