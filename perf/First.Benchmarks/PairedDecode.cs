using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;

namespace First.Benchmarks;

/// <summary>
/// Each decode kernel against a plain read of the same bytes, interleaved in one process:
/// <c>dotnet run -c Release --project perf/First.Benchmarks -- paired [--rounds N] [--threads T] [format…]</c>.
/// <see cref="MatVecBenchmark"/> measures the product and its read as separate BenchmarkDotNet cases, each in its own
/// process with its own allocation, seconds apart; on a shared VM the read alone then moves between 25 and 57 GB/s,
/// so their ratio says little. Here one allocation serves both, and every round times one full cycle of the copies
/// with the kernel and one with the read, alternating which goes first, so a change in the machine's memory speed
/// touches both sides of a round alike. The ratio of each round is kept; the table shows their median and range.
/// The last column repeats the product with one copy, whose bytes then stay in the last-level cache: the kernel's
/// own speed, which is what limits it when memory reads faster.
/// </summary>
public static class PairedDecode
{
    public static void Run(string[] args)
    {
        var rounds = 15;
        var threads = 2;
        var formats = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: formats.Add(args[i]); break;
            }
        }

        Console.WriteLine($"{Environment.ProcessorCount} cpus, {threads} threads, {rounds} rounds, 512-bit vectors: {Vector512.IsHardwareAccelerated}");
        Console.WriteLine("| kernel | MiB per cycle | product GB/s (median) | read GB/s (median) | product / read, median | min–max | product GB/s from cache |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var kernel in MatVecBenchmark.Kernels().Where(k => formats.Count == 0 || formats.Contains(k.Split(' ')[0])))
        {
            var bench = new MatVecBenchmark { Kernel = kernel, Threads = threads };
            bench.Setup();
            try
            {
                Measure(bench, kernel, rounds);
            }
            finally
            {
                bench.Cleanup();
            }
        }
    }

    private static void Measure(MatVecBenchmark bench, string kernel, int rounds)
    {
        var bytes = (double)bench.MatrixBytes * bench.Copies;
        Cycle(bench, Product); // first touch of the interleaved copies, and the JIT's tiers
        Cycle(bench, Read);
        Cycle(bench, Product);
        Cycle(bench, Read);

        var product = new double[rounds];
        var read = new double[rounds];
        var ratio = new double[rounds];
        for (var r = 0; r < rounds; r++)
        {
            if (r % 2 == 0)
            {
                product[r] = Cycle(bench, Product);
                read[r] = Cycle(bench, Read);
            }
            else
            {
                read[r] = Cycle(bench, Read);
                product[r] = Cycle(bench, Product);
            }

            ratio[r] = read[r] / product[r];
        }

        var cached = new double[rounds];
        for (var r = 0; r < rounds; r++)
        {
            cached[r] = Cycle(bench, ProductFromCache);
        }

        Console.WriteLine(FormattableString.Invariant(
            $"| {kernel} | {bytes / (1 << 20):F0} | {bytes / Median(product) / 1e9:F1} | {bytes / Median(read) / 1e9:F1} | {100 * Median(ratio):F0}% | {100 * ratio.Min():F0}–{100 * ratio.Max():F0}% | {bytes / Median(cached) / 1e9:F1} |"));
    }

    private static void Product(MatVecBenchmark bench) => bench.Multiply();

    private static void Read(MatVecBenchmark bench) => bench.ReadSameBytes();

    private static void ProductFromCache(MatVecBenchmark bench) => bench.MultiplyFirstCopy();

    /// <summary>Seconds for <paramref name="operation"/> done once per copy of the matrix (one pass over all of them).</summary>
    private static double Cycle(MatVecBenchmark bench, Action<MatVecBenchmark> operation)
    {
        var start = Stopwatch.GetTimestamp();
        for (var c = 0; c < bench.Copies; c++)
        {
            operation(bench);
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
