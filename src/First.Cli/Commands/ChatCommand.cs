using System.CommandLine;
using First.Cpu;

namespace First.Cli.Commands;

/// <summary><c>first chat -m FILE</c>: an interactive conversation in the model's chat format.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var sampling = new SamplingOptions();
        var system = new Option<string?>("--system", "-sys") { Description = "A system message to open the conversation" };
        var predict = new Option<int>("--n-predict", "-n") { Description = "Most tokens per reply (-1: until the end of the turn)", DefaultValueFactory = _ => -1 };
        var noThinking = new Option<bool>("--no-thinking") { Description = "Qwen3: answer without a reasoning block (its template's enable_thinking=false)" };
        var command = new Command("chat", "Chat with a model (one message per line on stdin; an empty line or end of input quits)");
        model.AddTo(command);
        sampling.AddTo(command);
        command.Options.Add(system);
        command.Options.Add(predict);
        command.Options.Add(noThinking);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var sessionOptions = model.Session(r);
            var samplerOptions = sampling.Sampler(r);
            using var lm = LanguageModel.Open(CliErrors.RequireFile(r.GetValue(model.Model)!));
            using var chat = new Chat(lm, sessionOptions, samplerOptions, r.GetValue(system));
            chat.Template = chat.Template.WithThinking(!r.GetValue(noThinking));
            Console.Error.WriteLine($"chat format: {chat.Template.Format}; an empty line quits");
            using var stdout = Console.OpenStandardOutput();
            while (true)
            {
                Console.Error.Write("> ");
                var line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line))
                {
                    return 0;
                }

                chat.Reply(line, r.GetValue(predict), (_, piece) =>
                {
                    stdout.Write(piece);
                    stdout.Flush();
                    return true;
                });
                stdout.Write("\n"u8);
                stdout.Flush();
            }
        }));
        return command;
    }
}
