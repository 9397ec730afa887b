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

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, no usage dump: the errors name the flag; --help shows the rest.
            Console.Error.WriteLine($"first: {parsed.Errors[0].Message} (see 'first --help')");
            return ExitUsage;
        }

        return parsed.Invoke();
    }
}
