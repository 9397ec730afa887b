using System.Globalization;
using System.Text.RegularExpressions;
using First.Tests;

namespace First.Gguf.Tests;

/// <summary><c>first bench</c>: the rows it prints, the depth option, and how it refuses bad numbers.</summary>
[Collection(nameof(ConsoleCollection))]
public sealed class CliBenchTests
{
    [Fact]
    public void Bench_at_a_depth_names_its_tests_as_llama_bench_does_and_measures_them()
    {
        var (exit, stdout, stderr) = ConsoleCapture.Run("bench", "-m", TestPaths.Model("stories260K.gguf"), "-p", "8", "-n", "4", "-d", "40", "-r", "2", "-t", "1");
        Assert.True(exit == 0, stderr);
        foreach (var test in new[] { "pp8 @ d40", "tg4 @ d40" })
        {
            var row = Regex.Match(stdout, $@"\| first +\| llama 5L 64d \| [0-9.]+ MiB \| 1 \| {Regex.Escape(test)} \| ([0-9.]+) ± [0-9.]+ \|");
            Assert.True(row.Success, $"no {test} row in:\n{stdout}");
            Assert.True(double.Parse(row.Groups[1].Value, CultureInfo.InvariantCulture) > 0, row.Value);
        }
    }

    [Fact]
    public void A_negative_depth_is_one_line_and_exit_1()
    {
        var (exit, stdout, stderr) = ConsoleCapture.Run("bench", "-m", TestPaths.Model("stories260K.gguf"), "-d", "-1");
        Assert.Equal(1, exit);
        Assert.DoesNotContain("| first", stdout, StringComparison.Ordinal);
        Assert.Equal("first: -p, -n and -d must be 0 or more, -t and -r 1 or more\n", stderr);
    }
}
