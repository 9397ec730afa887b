using BenchmarkDotNet.Running;

namespace First.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project perf/First.Benchmarks -- --filter '*'</c> (BenchmarkDotNet's switches), or
/// <c>-- paired [--rounds N] [--threads T] [format…]</c> for <see cref="PairedDecode"/>.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["paired", .. var rest])
        {
            PairedDecode.Run(rest);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
