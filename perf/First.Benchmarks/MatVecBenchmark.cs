using System.Collections.Immutable;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace First.Benchmarks;

/// <summary>
/// Decode-shaped products (one token), each paired with a plain streaming read of the same bytes on the same
/// pool: the two cases of a kernel run back to back and the "% of read" column divides them. This machine's
/// memory speed changes from one minute to the next (README, Speed), so a read measured in another part of the
/// run says little about the kernel next to it.
/// </summary>
[Config(typeof(Config))]
public unsafe class MatVecBenchmark : ProductBenchmark
{
    [ParamsSource(nameof(Kernels))]
    public override string Kernel { get; set; } = "Q4_0 Avx2";

    public override int Tokens { get; set; } = 1;

    /// <summary>The decode kernels (the AVX-512 prefill kernels decode with their row path's, listed already).</summary>
    public static IEnumerable<string> Kernels() => KernelsFor(prefill: false);

    /// <summary>Every byte <see cref="ProductBenchmark.Multiply"/> reads, read plainly with the widest vectors.</summary>
    [Benchmark]
    public void ReadSameBytes()
    {
        var job = new ReadJob(NextMatrix(), MatrixBytes);
        Pool.Run(&Read, &job); // Run returns when every part is read, so the job may live on this stack
    }

    private static void Read(void* job, int index, int count) =>
        MemoryBandwidthBenchmark.ReadPart(((ReadJob*)job)->Data, ((ReadJob*)job)->Bytes, index, count);

    private readonly struct ReadJob(byte* data, long bytes)
    {
        public readonly byte* Data = data;
        public readonly long Bytes = bytes;
    }

    private sealed class Config : BenchmarkConfig
    {
        public Config()
        {
            AddColumn(ThroughputColumn.GigabytesPerSecond, new ShareOfReadColumn());
            WithOrderer(new KernelThenMethodOrderer());
        }
    }

    /// <summary>Each kernel's product, then its read: the two measured seconds apart, and shown next to each other.</summary>
    private sealed class KernelThenMethodOrderer : DefaultOrderer
    {
        public override IEnumerable<BenchmarkCase> GetExecutionOrder(ImmutableArray<BenchmarkCase> benchmarksCase, IEnumerable<BenchmarkLogicalGroupRule>? order = null) =>
            Ordered(benchmarksCase);

        public override IEnumerable<BenchmarkCase> GetSummaryOrder(ImmutableArray<BenchmarkCase> benchmarksCases, Summary summary) =>
            Ordered(benchmarksCases);

        private static IEnumerable<BenchmarkCase> Ordered(ImmutableArray<BenchmarkCase> cases)
        {
            var kernels = Kernels().ToList();
            return cases.OrderBy(c => kernels.IndexOf((string)c.Parameters[nameof(Kernel)]!))
                .ThenBy(c => c.Descriptor.WorkloadMethod.Name == nameof(ReadSameBytes) ? 1 : 0);
        }
    }

    /// <summary>A product's time for the matrix's bytes against the paired read's (100% = as fast as reading them).</summary>
    private sealed class ShareOfReadColumn : IColumn
    {
        public string Id => nameof(ShareOfReadColumn);

        public string ColumnName => "% of read";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 1;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "the read of the same bytes' mean time over the product's";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            if (benchmarkCase.Descriptor.WorkloadMethod.Name != nameof(Multiply)
                || summary[benchmarkCase]?.ResultStatistics is not { } product)
            {
                return "-";
            }

            var read = summary.BenchmarksCases.FirstOrDefault(c => c.Descriptor.WorkloadMethod.Name == nameof(ReadSameBytes)
                && c.Parameters.DisplayInfo == benchmarkCase.Parameters.DisplayInfo);
            return read is not null && summary[read]?.ResultStatistics is { } r
                ? (100 * r.Mean / product.Mean).ToString("F0", CultureInfo.InvariantCulture)
                : "-";
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
