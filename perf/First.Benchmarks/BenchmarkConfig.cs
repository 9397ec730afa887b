using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace First.Benchmarks;

/// <summary>Short runs (the numbers are stable on this kind of machine) with the throughput columns.</summary>
public class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
        WithOption(ConfigOptions.DisableOptimizationsValidator, false);
    }
}
