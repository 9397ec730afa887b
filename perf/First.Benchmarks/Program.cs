using BenchmarkDotNet.Running;

namespace First.Benchmarks;

/// <summary>dotnet run -c Release --project perf/First.Benchmarks -- --filter '*' (BenchmarkDotNet's switches).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
