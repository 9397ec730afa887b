using First.Gguf;

namespace First.Cli.Commands;

/// <summary>Turns the errors a command can expect into one line on stderr and an exit code.</summary>
internal static class CliErrors
{
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CliException e)
        {
            return Fail(e.Message);
        }
        catch (First.Cpu.Model.ContextOverflowException e)
        {
            return Fail(e.Message);
        }
        catch (First.Cpu.Routing.RouterFileException e)
        {
            return Fail(e.Message);
        }
        catch (First.Cpu.Routing.Training.TrainingDataException e)
        {
            return Fail(e.Message);
        }
        catch (First.Cpu.Routing.Training.TrainingCheckpointException e)
        {
            return Fail(e.Message);
        }
        catch (GgufFormatException e)
        {
            return Fail($"invalid GGUF file: {e.Message}");
        }
        catch (FileNotFoundException e)
        {
            return Fail($"no such file: {e.FileName}");
        }
        catch (NotSupportedException e)
        {
            return Fail(e.Message);
        }
        catch (ArgumentException e) when (e.Message.StartsWith(First.Cpu.Kernels.KernelRegistry.Variable, StringComparison.Ordinal))
        {
            return Fail(e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            return Fail(e.Message);
        }
        catch (IOException e)
        {
            return Fail(e.Message);
        }
    }

    /// <summary>Checks that an input file exists, so that a missing one is named in one line.</summary>
    public static string RequireFile(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"no such file: {path}", path);

    public static int Fail(string message)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"first: {message}");
        return Program.ExitFailure;
    }
}
