using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace First.Benchmarks;

/// <summary>
/// A column computed from the mean time of each case: bytes streamed (GB/s) or floating-point work
/// (GFLOP/s) per operation, as the benchmark class states it through <see cref="IThroughput"/>.
/// </summary>
public sealed class ThroughputColumn(string name, Func<IThroughput, double> amount, double scale) : IColumn
{
    public static readonly IColumn GigabytesPerSecond = new ThroughputColumn("GB/s", t => t.BytesPerOperation, 1e9);
    public static readonly IColumn GigaflopsPerSecond = new ThroughputColumn("GFLOP/s", t => t.FlopsPerOperation, 1e9);

    public string Id => $"{nameof(ThroughputColumn)}.{ColumnName}";

    public string ColumnName { get; } = name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"{ColumnName} from the mean time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats || Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IThroughput t)
        {
            return "-";
        }

        foreach (var p in benchmarkCase.Parameters.Items)
        {
            benchmarkCase.Descriptor.Type.GetProperty(p.Name)?.SetValue(t, p.Value);
        }

        var perSecond = amount(t) / (stats.Mean * 1e-9);
        return perSecond <= 0 ? "-" : (perSecond / scale).ToString("F1", CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>What one benchmark operation moves and computes, from the parameter properties alone.</summary>
public interface IThroughput
{
    double BytesPerOperation { get; }

    double FlopsPerOperation { get; }
}
