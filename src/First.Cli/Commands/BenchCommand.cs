using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using First.Cpu;
using First.Cpu.Model;

namespace First.Cli.Commands;

/// <summary><c>first bench -m FILE</c>: llama-bench's pp/tg table, optionally beside llama-bench's own run.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model file", Required = true };
        var prompt = new Option<int>("--n-prompt", "-p") { Description = "Prompt tokens for the pp test (0: skip)", DefaultValueFactory = _ => 128 };
        var gen = new Option<int>("--n-gen", "-n") { Description = "Generated tokens for the tg test (0: skip)", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var depth = new Option<int>("--n-depth", "-d") { Description = "Tokens already in the context when each test starts (llama-bench's -d): decode speed deep in a conversation", DefaultValueFactory = _ => 0 };
        var reps = new Option<int>("--repetitions", "-r") { Description = "Repetitions of each test", DefaultValueFactory = _ => 3 };
        var vs = new Option<bool>("--vs-llama-cpp") { Description = "Also run the reference llama-bench on the same file and print the ratios" };
        var skip = new Option<string?>("--skip-layers") { Description = "Layers the tg test skips, e.g. 3,5,7 (FiRST decode speed)" };
        var llamaBench = new Option<string?>("--llama-bench") { Description = "Path of llama-bench (default: the reference build under ~/.cache/first-llama-cpp-3.22.1/bin)" };
        var command = new Command("bench", "Measure prompt processing and generation speed, like llama-bench");
        foreach (var o in new Option[] { model, prompt, gen, depth, threads, reps, vs, skip, llamaBench })
        {
            command.Options.Add(o);
        }

        command.SetAction(r => CliErrors.Run(() =>
        {
            var (p, n, d, t, rep) = (r.GetValue(prompt), r.GetValue(gen), r.GetValue(depth), r.GetValue(threads), r.GetValue(reps));
            if (p < 0 || n < 0 || d < 0 || t < 1 || rep < 1)
            {
                throw new CliException("-p, -n and -d must be 0 or more, -t and -r 1 or more");
            }

            var path = CliErrors.RequireFile(r.GetValue(model)!);
            using var lm = LanguageModel.Open(path);
            using var session = lm.CreateSession(new SessionOptions { Threads = t, ContextLength = d + Math.Max(p, n) + 1, BatchSize = Math.Max(1, Math.Min(Math.Max(p, d), 512)) });
            var ours = new List<SpeedResult>();
            if (p > 0)
            {
                ours.Add(SpeedTest.PromptProcessing(session, p, rep, depth: d));
            }

            if (n > 0)
            {
                ours.Add(SpeedTest.TextGeneration(session, n, rep, depth: d));
                if (!string.IsNullOrWhiteSpace(r.GetValue(skip)))
                {
                    session.DecodePlan = ModelOptions.ParseSkipLayers(r.GetValue(skip)!, lm.Config.LayerCount);
                    var skipped = SpeedTest.TextGeneration(session, n, rep, depth: d);
                    ours.Add(skipped with { Test = $"{ours[^1].Test} skip {session.DecodePlan.SkippedCount}" });
                    var ideal = (double)lm.Config.LayerCount / (lm.Config.LayerCount - session.DecodePlan.SkippedCount);
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"skipping {session.DecodePlan}: {skipped.Mean / ours[^2].Mean:F2}x dense decode (ideal {ideal:F2}x)"));
                }
            }

            var size = new FileInfo(path).Length / (1024.0 * 1024.0);
            Console.WriteLine($"| engine    | model | size | threads | test | t/s |");
            Console.WriteLine($"| --------- | ----- | ---: | ------: | ---: | --: |");
            foreach (var s in ours)
            {
                Console.WriteLine(Row("first", lm, size, t, s.Test, s.Mean, s.StandardDeviation));
            }

            if (r.GetValue(vs))
            {
                var reference = RunLlamaBench(r.GetValue(llamaBench), path, p, n, d, t, rep);
                foreach (var (test, mean, sd) in reference)
                {
                    Console.WriteLine(Row("llama.cpp", lm, size, t, test, mean, sd));
                }

                Console.WriteLine();
                foreach (var s in ours)
                {
                    var theirs = reference.FirstOrDefault(x => x.Test == s.Test);
                    if (theirs.Test is not null)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Test}: first / llama.cpp = {s.Mean / theirs.Mean:F2}"));
                    }
                }
            }

            return 0;
        }));
        return command;
    }

    private static string Row(string engine, LanguageModel lm, double sizeMiB, int threads, string test, double mean, double sd) =>
        string.Create(CultureInfo.InvariantCulture,
            $"| {engine,-9} | {lm.Config.ArchitectureName} {lm.Config.LayerCount}L {lm.Config.EmbeddingLength}d | {sizeMiB:F1} MiB | {threads} | {test} | {mean:F2} ± {sd:F2} |");

    private static List<(string Test, double Mean, double Sd)> RunLlamaBench(string? bench, string model, int p, int n, int d, int t, int rep)
    {
        bench ??= Path.Combine(Environment.GetEnvironmentVariable("FIRST_REF_DIR")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "first-llama-cpp-3.22.1"), "bin", "llama-bench");
        if (!File.Exists(bench))
        {
            throw new CliException($"llama-bench not found at {bench} (run ../shared/tools/llama-cpp-reference.sh --tools, or pass --llama-bench)");
        }

        var psi = new ProcessStartInfo(bench) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["LD_LIBRARY_PATH"] = Path.GetDirectoryName(bench)!;
        foreach (var a in new[] { "-m", model, "-t", $"{t}", "-p", $"{p}", "-n", $"{n}", "-d", $"{d}", "-r", $"{rep}", "-o", "json" })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var json = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new CliException($"llama-bench failed ({process.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}");
        }

        using var doc = JsonDocument.Parse(json);
        return [.. doc.RootElement.EnumerateArray().Select(e =>
        {
            var np = e.GetProperty("n_prompt").GetInt32();
            var ng = e.GetProperty("n_gen").GetInt32();
            var nd = e.TryGetProperty("n_depth", out var depthOf) ? depthOf.GetInt32() : 0;
            return (SpeedTest.TestName(np > 0 ? $"pp{np}" : $"tg{ng}", nd), e.GetProperty("avg_ts").GetDouble(), e.GetProperty("stddev_ts").GetDouble());
        })];
    }
}
