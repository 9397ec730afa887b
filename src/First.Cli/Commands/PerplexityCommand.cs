using System.CommandLine;
using System.Globalization;
using First.Cpu;

namespace First.Cli.Commands;

/// <summary><c>first perplexity -m FILE -f TEXT [-c CTX]</c>, as llama-perplexity.</summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var file = new Option<string>("--file", "-f") { Description = "Text to score", Required = true };
        var command = new Command("perplexity", "Perplexity of a text, in chunks of the context (second half of each chunk scored), as llama-perplexity");
        model.AddTo(command);
        command.Options.Add(file);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var text = File.ReadAllText(CliErrors.RequireFile(r.GetValue(file)!));
            var options = model.Session(r);
            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model.Model)!));
            var context = options.ContextLength > 0 ? options.ContextLength : Math.Min(lm.Config.TrainedContextLength, 512);
            using var session = lm.CreateSession(options with { ContextLength = context });
            var tokens = lm.Tokenizer.Encode(text);
            if (tokens.Length < 2 * context)
            {
                throw new CliException($"the text has {tokens.Length} tokens; a context of {context} needs at least {2 * context} (use -c)");
            }

            Console.Error.WriteLine($"perplexity: {tokens.Length} tokens, {tokens.Length / context} chunks of {context}");
            var result = Perplexity.Evaluate(session, tokens, context, lm.Tokenizer.Vocabulary.AddBos ? lm.Tokenizer.Vocabulary.Bos : -1,
                p => Console.Write(string.Create(CultureInfo.InvariantCulture, $"[{p.Chunks}]{p.Value:F4},")));
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Final estimate: PPL = {result.Value:F4} +/- {result.Uncertainty:F5}"));
            return 0;
        }));
        return command;
    }
}
