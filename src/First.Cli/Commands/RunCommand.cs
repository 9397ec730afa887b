using System.CommandLine;
using System.Globalization;
using First.Cpu;

namespace First.Cli.Commands;

/// <summary><c>first run -m FILE -p PROMPT</c>: generate text, streamed to stdout; speeds on stderr.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var sampling = new SamplingOptions();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text" };
        var promptFile = new Option<string?>("--file", "-f") { Description = "Read the prompt from a file" };
        var predict = new Option<int>("--n-predict", "-n") { Description = "Tokens to generate (-1: until end of text or context)", DefaultValueFactory = _ => -1 };
        var stops = new Option<string[]>("--reverse-prompt", "-r") { Description = "Stop when the text contains this (repeatable)", AllowMultipleArgumentsPerToken = false };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating after the end-of-text token" };
        var noPrompt = new Option<bool>("--no-display-prompt") { Description = "Do not echo the prompt" };
        var routers = new Option<string?>("--routers") { Description = "FiRST router file: the routers choose at prefill which layers decoding skips" };
        var tau = new Option<float?>("--tau") { Description = "Skip a routed layer whose mean score is below tau (default: the router file's, else 0.5)" };
        var maxSkip = new Option<int?>("--max-skip") { Description = "Skip at most K layers" };
        var minSkip = new Option<int?>("--min-skip") { Description = "Skip at least K layers" };
        var noLora = new Option<bool>("--no-lora") { Description = "Ignore the LoRA adapters a router file carries" };
        var json = new Option<bool>("--json") { Description = "Print the run's report (skipped layers, router means, speeds) as JSON on stderr" };
        var command = new Command("run", "Generate text from a prompt");
        model.AddTo(command);
        sampling.AddTo(command);
        command.Options.Add(prompt);
        command.Options.Add(promptFile);
        command.Options.Add(predict);
        command.Options.Add(stops);
        command.Options.Add(ignoreEos);
        command.Options.Add(noPrompt);
        command.Options.Add(routers);
        command.Options.Add(tau);
        command.Options.Add(maxSkip);
        command.Options.Add(minSkip);
        command.Options.Add(noLora);
        command.Options.Add(json);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var text = r.GetValue(promptFile) is { } pf ? File.ReadAllText(CliErrors.RequireFile(pf)) : r.GetValue(prompt) ?? "";
            var sessionOptions = model.Session(r);
            var samplerOptions = sampling.Sampler(r);
            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model.Model)!));
            using var generator = new Generator(lm, sessionOptions, samplerOptions);
            model.ApplyPlan(r, generator.Session);
            if (r.GetValue(routers) is { } routerPath)
            {
                if (!string.IsNullOrWhiteSpace(r.GetValue(model.SkipLayers)))
                {
                    throw new CliException("--routers and --skip-layers exclude each other");
                }

                var (set, fileTau) = First.Cpu.Routing.RouterFile.Read(CliErrors.RequireFile(routerPath), lm, Console.Error);
                var options = new First.Cpu.Routing.RoutingOptions
                {
                    Tau = r.GetValue(tau) ?? fileTau,
                    MaxSkip = r.GetValue(maxSkip),
                    MinSkip = r.GetValue(minSkip),
                    SkipInPrefill = r.GetValue(model.SkipInPrefill),
                };
                try
                {
                    options.Validate(set);
                }
                catch (ArgumentOutOfRangeException e)
                {
                    throw new CliException(e.Message.Split(" (Parameter")[0]);
                }

                generator.Session.Routers = set;
                generator.Session.Adapters = r.GetValue(noLora) ? null : set.Adapters;
                generator.Session.RoutingOptions = options;
            }
            else if (r.GetValue(tau) is not null || r.GetValue(maxSkip) is not null || r.GetValue(minSkip) is not null)
            {
                throw new CliException("--tau, --max-skip and --min-skip need --routers");
            }

            var ids = lm.Tokenizer.Encode(text);
            if (ids.Length >= generator.Session.ContextLength)
            {
                throw new First.Cpu.Model.ContextOverflowException($"the prompt has {ids.Length} tokens; the context holds {generator.Session.ContextLength} (-c)");
            }

            using var stdout = Console.OpenStandardOutput();
            if (!r.GetValue(noPrompt))
            {
                stdout.Write(System.Text.Encoding.UTF8.GetBytes(text));
                stdout.Flush();
            }

            var result = generator.Generate(ids, r.GetValue(predict), (_, piece) =>
            {
                stdout.Write(piece);
                stdout.Flush();
                return true;
            }, r.GetValue(stops), r.GetValue(ignoreEos));
            stdout.Write("\n"u8);
            stdout.Flush();
            var session = generator.Session;
            if (r.GetValue(json))
            {
                Console.Error.WriteLine(Report(result, session));
                return 0;
            }

            if (session.Routers is not null)
            {
                var means = string.Join(' ', session.Routers.RoutedLayers.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l}:{session.RouterMeans[l]:F3}")));
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"router means (tau {session.RoutingOptions.Tau}): {means} | routers took {session.RouterSeconds * 1000:F1} ms of {result.PromptSeconds * 1000:F1} ms prefill ({100 * session.RouterSeconds / Math.Max(result.PromptSeconds, 1e-9):F1}%)"));
            }

            if (session.DecodePlan.SkippedCount > 0 || session.Routers is not null)
            {
                var lora = session.AdaptersFor(session.DecodePlan) is { } a ? $", LoRA adapters of rank {a.Rank} applied" : "";
                Console.Error.WriteLine($"skipped layers: {(session.DecodePlan.SkippedCount == 0 ? "none" : string.Join(',', session.DecodePlan.Skipped))} ({session.DecodePlan.SkippedCount} of {lm.Config.LayerCount}){lora}");
            }

            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prompt: {result.PromptTokens.Count} tokens in {result.PromptSeconds * 1000:F1} ms ({result.PromptTokensPerSecond:F1} t/s) | " +
                $"generation: {result.Tokens.Count} tokens, {result.TokensPerSecond:F1} t/s | time to first token {result.TimeToFirstToken * 1000:F1} ms | " +
                $"{sessionOptions.Threads} threads, seed {generator.Sampler.Seed}, stop: {result.StopReason.ToString().ToLowerInvariant()}"));
            return 0;
        }));
        return command;
    }

    private static string Report(GenerationResult result, First.Cpu.Model.Session session)
    {
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("prompt_tokens", result.PromptTokens.Count);
            w.WriteNumber("generated_tokens", result.Tokens.Count);
            w.WriteNumber("prompt_tokens_per_second", result.PromptTokensPerSecond);
            w.WriteNumber("decode_tokens_per_second", result.TokensPerSecond);
            w.WriteNumber("time_to_first_token_ms", result.TimeToFirstToken * 1000);
            w.WriteString("stop", result.StopReason.ToString().ToLowerInvariant());
            w.WriteStartArray("skipped_layers");
            foreach (var l in session.DecodePlan.Skipped)
            {
                w.WriteNumberValue(l);
            }

            w.WriteEndArray();
            if (session.Routers is not null)
            {
                w.WriteNumber("tau", session.RoutingOptions.Tau);
                w.WriteNumber("router_ms", session.RouterSeconds * 1000);
                w.WriteNumber("lora_rank", session.AdaptersFor(session.DecodePlan)?.Rank ?? 0);
                w.WriteStartObject("router_means");
                foreach (var l in session.Routers.RoutedLayers)
                {
                    w.WriteNumber(l.ToString(CultureInfo.InvariantCulture), session.RouterMeans[l]);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
