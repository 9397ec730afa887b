using System.CommandLine;
using First.Cli.Commands;

namespace First.Cli;

/// <summary>The <c>first</c> command line: a thin shell over the libraries.</summary>
public static class Program
{
    /// <summary>Exit code of a run that failed on its input (bad file, bad value).</summary>
    public const int ExitFailure = 1;

    /// <summary>Exit code of a command line that could not be parsed.</summary>
    public const int ExitUsage = 2;

    /// <summary>Runs the command line and returns the exit code.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("First: a CPU inference engine for LLMs with FiRST layer skipping.");
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(KernelsCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(PerplexityCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(TrainRoutersCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, no usage dump; --help shows the rest. An unknown flag is taken by the parser as an
            // argument value, so its own message would name the wrong token: name the flag instead.
            var unknown = UnknownOption(parsed, args);
            var message = unknown is not null ? $"unknown option '{unknown}'" : string.Join("; ", parsed.Errors.Select(e => e.Message));
            var help = parsed.CommandResult.Command is RootCommand ? "first --help" : $"first {parsed.CommandResult.Command.Name} --help";
            Console.Error.WriteLine($"first: {message} (see '{help}')");
            return ExitUsage;
        }

        return parsed.Invoke();
    }

    private static string? UnknownOption(ParseResult parsed, string[] args)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (var c = parsed.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
        {
            foreach (var o in c.Command.Options)
            {
                known.Add(o.Name);
                known.UnionWith(o.Aliases);
            }
        }

        return args.FirstOrDefault(a => a.StartsWith('-') && a.Length > 1 && !char.IsAsciiDigit(a[1]) && !known.Contains(a.Split('=')[0]));
    }
}
