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
        var command = new Command("run", "Generate text from a prompt");
        model.AddTo(command);
        sampling.AddTo(command);
        command.Options.Add(prompt);
        command.Options.Add(promptFile);
        command.Options.Add(predict);
        command.Options.Add(stops);
        command.Options.Add(ignoreEos);
        command.Options.Add(noPrompt);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var text = r.GetValue(promptFile) is { } pf ? File.ReadAllText(CliErrors.RequireFile(pf)) : r.GetValue(prompt) ?? "";
            var sessionOptions = model.Session(r);
            var samplerOptions = sampling.Sampler(r);
            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model.Model)!));
            using var generator = new Generator(lm, sessionOptions, samplerOptions);
            model.ApplyPlan(r, generator.Session);
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
            if (generator.Session.DecodePlan.SkippedCount > 0)
            {
                Console.Error.WriteLine($"skipped layers: {string.Join(',', generator.Session.DecodePlan.Skipped)} ({generator.Session.DecodePlan.SkippedCount} of {lm.Config.LayerCount})");
            }

            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prompt: {result.PromptTokens.Count} tokens in {result.PromptSeconds * 1000:F1} ms ({result.PromptTokensPerSecond:F1} t/s) | " +
                $"generation: {result.Tokens.Count} tokens, {result.TokensPerSecond:F1} t/s | time to first token {result.TimeToFirstToken * 1000:F1} ms | " +
                $"{sessionOptions.Threads} threads, seed {generator.Sampler.Seed}, stop: {result.StopReason.ToString().ToLowerInvariant()}"));
            return 0;
        }));
        return command;
    }
}
