using System.CommandLine;
using System.Globalization;
using First.Cpu;
using First.Cpu.Routing;
using First.Cpu.Routing.Training;
using Spectre.Console;

namespace First.Cli.Commands;

/// <summary>
/// <c>first train-routers -m MODEL (--text F | --jsonl F | --self-generate N) -o OUT.routers.gguf</c>: trains FiRST
/// routers on the frozen model (shared/FIRST.md, Training), with checkpoints it resumes from.
/// </summary>
internal static class TrainRoutersCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model file", Required = true };
        var text = new Option<string?>("--text") { Description = "Plain text to cut into (prompt, continuation) pairs" };
        var jsonl = new Option<string?>("--jsonl") { Description = "JSONL file with \"prompt\" and \"completion\" strings" };
        var selfGenerate = new Option<int?>("--self-generate") { Description = "Train on N texts sampled from the model itself" };
        var output = new Option<string>("--output", "-o") { Description = "Router file to write", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimiser steps", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "Examples per step", DefaultValueFactory = _ => 4 };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate (AdamW, warm-up then cosine)", DefaultValueFactory = _ => 3e-3f };
        var lambda = new Option<float>("--lambda") { Description = "Weight of the mean gate in the loss", DefaultValueFactory = _ => 0.01f };
        var targetSkip = new Option<float?>("--target-skip") { Description = "Adapt lambda towards this skipped fraction, in (0, 1)" };
        var loss = new Option<string>("--loss") { Description = "kl (to the dense model) or ce (next-token cross-entropy)", DefaultValueFactory = _ => "kl" };
        var tokenGates = new Option<bool>("--token-gates") { Description = "Gate every continuation token by its own router score" };
        var sampledGates = new Option<bool>("--sampled-gates") { Description = "Draw each layer's gate as 0 or 1 with probability m_i (straight-through gradient)" };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed of initialisation, example order and self-generated text", DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var promptLength = new Option<int>("--prompt-length") { Description = "Prompt tokens per example", DefaultValueFactory = _ => 64 };
        var continuationLength = new Option<int>("--continuation-length") { Description = "Continuation tokens per example", DefaultValueFactory = _ => 64 };
        var hidden = new Option<int>("--router-hidden") { Description = "Router hidden size d_r (0: linear)", DefaultValueFactory = _ => 64 };
        var routeLayers = new Option<string?>("--route-layers") { Description = "Routed layers, e.g. 1,2,3 (default: all but the first and the last)" };
        var tau = new Option<float>("--tau") { Description = "Threshold written into the router file", DefaultValueFactory = _ => 0.5f };
        var skipBudget = new Option<int>("--skip-budget") { Description = "Train for skipping exactly K layers (expected KL of whole-layer skips; 0: soft gates and lambda)", DefaultValueFactory = _ => 0 };
        var budgetSamples = new Option<int>("--budget-samples") { Description = "Layer sets drawn per example when there are too many to try every one", DefaultValueFactory = _ => 8 };
        var budgetImitation = new Option<float>("--budget-imitation") { Description = "Weight of the pull towards the cheapest layer set seen (skip budget)", DefaultValueFactory = _ => 1f };
        var routersIn = new Option<string?>("--routers") { Description = "LoRA stage: train adapters for these (frozen) routers; OUT gets both" };
        var fixedLayers = new Option<string?>("--skip-layers") { Description = "LoRA stage for a fixed list instead of routers, e.g. 1,3 (the file's routers always choose it)" };
        var loraRank = new Option<int>("--lora-rank") { Description = "Adapter rank of the LoRA stage (with --routers or --skip-layers)", DefaultValueFactory = _ => 8 };
        var loraAlpha = new Option<float>("--lora-alpha") { Description = "LoRA alpha: the correction is scaled by alpha / rank", DefaultValueFactory = _ => 16f };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints (OUT.ckpt)", DefaultValueFactory = _ => 25 };

        var command = new Command("train-routers", "Train FiRST routers on the frozen model; resumes from OUT.ckpt when it exists");
        foreach (var o in new Option[] { model, text, jsonl, selfGenerate, output, steps, batch, lr, lambda, targetSkip, loss, tokenGates, sampledGates, seed, threads, promptLength, continuationLength, hidden, routeLayers, tau, skipBudget, budgetSamples, budgetImitation, routersIn, fixedLayers, loraRank, loraAlpha, checkpointEvery })
        {
            command.Options.Add(o);
        }

        command.SetAction(r => CliErrors.Run(() =>
        {
            ExampleSources.RequireOne(r.GetValue(text), r.GetValue(jsonl), r.GetValue(selfGenerate));

            var lossName = r.GetValue(loss)!;
            var qualityLoss = lossName switch
            {
                "kl" => QualityLoss.Kl,
                "ce" => QualityLoss.CrossEntropy,
                _ => throw new CliException($"--loss must be kl or ce (got '{lossName}')"),
            };
            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model)!));
            var given = r.GetValue(routersIn) is { } routerPath ? RouterFile.Read(CliErrors.RequireFile(routerPath), lm, Console.Error).Routers : null;
            if (r.GetValue(fixedLayers) is { } fixedList)
            {
                if (given is not null)
                {
                    throw new CliException("--routers and --skip-layers exclude each other");
                }

                var routedFixed = r.GetValue(routeLayers) is { } rl ? ParseLayers(rl) : [.. RouterSet.DefaultRoutedLayers(lm.Config.LayerCount)];
                try
                {
                    given = RouterSet.Fixed(lm.Config.LayerCount, lm.Config.EmbeddingLength, routedFixed, ParseLayers(fixedList));
                }
                catch (ArgumentOutOfRangeException e)
                {
                    throw new CliException("--skip-layers: " + e.Message.Split(" (Parameter")[0]);
                }
            }

            var options = new RouterTrainingOptions
            {
                AdapterRank = given is null ? 0 : r.GetValue(loraRank),
                AdapterAlpha = r.GetValue(loraAlpha),
                Steps = r.GetValue(steps),
                BatchSize = r.GetValue(batch),
                LearningRate = r.GetValue(lr),
                Lambda = r.GetValue(lambda),
                TargetSkip = r.GetValue(targetSkip),
                Loss = qualityLoss,
                Gates = r.GetValue(tokenGates) ? GateMode.Token : GateMode.Sequence,
                SampledGates = r.GetValue(sampledGates),
                Seed = r.GetValue(seed),
                Threads = r.GetValue(threads),
                PromptLength = r.GetValue(promptLength),
                ContinuationLength = r.GetValue(continuationLength),
                Hidden = given?.Hidden ?? r.GetValue(hidden),
                RoutedLayers = given?.RoutedLayers ?? (r.GetValue(routeLayers) is { } list ? ParseLayers(list) : null),
                Tau = r.GetValue(tau),
                CheckpointEvery = r.GetValue(checkpointEvery),
                SkipBudget = r.GetValue(skipBudget),
                BudgetSamples = r.GetValue(budgetSamples),
                BudgetImitation = r.GetValue(budgetImitation),
            };
            if (given is not null && options.AdapterRank < 1)
            {
                throw new CliException($"--lora-rank must be at least 1 (got {options.AdapterRank})");
            }

            try
            {
                options.Validate(lm.Config.LayerCount);
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message);
            }

            var examples = ExampleSources.Load(lm, r.GetValue(text), r.GetValue(jsonl), r.GetValue(selfGenerate), options.PromptLength, options.ContinuationLength,
                options.Seed, options.Threads, Console.Error);
            var outputPath = r.GetValue(output)!;
            var checkpoint = outputPath + ".ckpt";
            var resuming = File.Exists(checkpoint);
            var c = lm.Config;
            var what = given is null ? "" : string.Create(CultureInfo.InvariantCulture, $"LoRA adapters of rank {options.AdapterRank} (alpha {options.AdapterAlpha}) for the given routers, ");
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"train-routers: {what}{examples.Count} examples, {options.Steps} steps of {options.BatchSize}, routers d_r={options.Hidden} on layers {string.Join(',', options.RoutedLayers ?? RouterSet.DefaultRoutedLayers(c.LayerCount))}, {(options.SkipBudget > 0 ? $"skip budget {options.SkipBudget}" : $"loss {lossName}, lambda {options.Lambda}")}{(resuming ? $", resuming from {checkpoint}" : "")}"));

            using var trainer = new RouterTrainer(lm, options, examples, given);
            RouterSet routers;
            TrainingProgress last = default;
            var startStep = -1;
            if (Console.IsErrorRedirected)
            {
                // Logs and pipes get a line every tenth of the run instead of a redrawn bar.
                routers = trainer.Train(checkpoint, p =>
                {
                    startStep = startStep < 0 ? p.Step - 1 : startStep;
                    last = p;
                    if (p.Step % Math.Max(1, p.Steps / 10) == 0 || p.Step == p.Steps)
                    {
                        Console.Error.WriteLine($"{Describe(p)} ETA {p.Remaining(startStep):hh\\:mm\\:ss}");
                    }
                });
            }
            else
            {
                routers = default!;
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training", maxValue: options.Steps);
                        routers = trainer.Train(checkpoint, p =>
                        {
                            last = p;
                            task.Value = p.Step;
                            task.Description = Markup.Escape(Describe(p));
                        });
                    });
            }

            RouterFile.Write(outputPath, routers, lm, options.Tau, options.Describe(c.LayerCount));
            File.Delete(checkpoint);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {outputPath}: {Describe(last)}"));
            return 0;
        }));
        return command;
    }

    private static List<int> ParseLayers(string list)
    {
        var layers = new List<int>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            layers.Add(int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l : throw new CliException($"--route-layers: '{part}' is not a layer number"));
        }

        return layers;
    }

    private static string Describe(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step}/{p.Steps} loss {p.Loss:F4} kl {p.Kl:F4} gate {p.MeanGate:F3} skip {p.SkippedLayers:F1} lambda {p.Lambda:G3} lr {p.LearningRate:G3} {p.TokensPerSecond:F0} tok/s");
}
