using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using First.Cpu.Model;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Perplexity agrees with llama-perplexity's on the same file and text.</summary>
public sealed partial class PerplexityTests(ITestOutputHelper output)
{
    /// <summary>Written for this test, in the style of the TinyStories the model was trained on.</summary>
    internal const string Story = """
        Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house. One sunny day, Tim saw a small bird sitting on a tree. The bird looked sad because it could not fly. Tim wanted to help the bird. He climbed the tree very slowly and held the bird in his hands. "Don't be scared, little bird," Tim said. He took the bird home and gave it some water and bread. The next day, the bird felt much better. It sang a happy song and flew up into the blue sky. Tim smiled and waved goodbye. From that day on, the bird came back to visit Tim every morning. They were best friends, and they played together in the park every day.
        Lily had a big dog named Max. Max loved to run and jump in the garden. One day, Lily and Max found a shiny box under a bush. Lily opened the box and saw a pretty necklace inside. She showed it to her mom. Her mom said, "This belongs to our neighbor, Sue. We should give it back." Lily and Max walked to Sue's house and gave her the necklace. Sue was very happy and gave Lily a big hug and a cookie. Lily learned that it feels good to be kind and honest.
        """;

    /// <summary>Relative tolerance: F32 differs only in summation order; quantized activations amplify it (see ModelParityTests).</summary>
    [Theory]
    [InlineData("stories260K.gguf", 0.002)]
    [InlineData("stories260K-Q8_0.gguf", 0.01)]
    [InlineData("stories260K-Q4_0.gguf", 0.01)]
    public void Perplexity_matches_llama_perplexity(string file, double tolerance)
    {
        const int Context = 64;
        var path = TestPaths.Model(file);
        var text = Path.Combine(Path.GetTempPath(), $"first-ppl-{Environment.ProcessId}.txt");
        File.WriteAllText(text, Story);
        try
        {
            var expected = RunReference(path, text, Context);
            using var model = LanguageModel.Open(path);
            using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = Context });
            var tokens = model.Tokenizer.Encode(Story);
            var running = new List<double>();
            var ours = Perplexity.Evaluate(session, tokens, Context, model.Tokenizer.Vocabulary.Bos, p => running.Add(p.Value));
            output.WriteLine($"{file}: ours {ours.Value:F4} ± {ours.Uncertainty:F4} over {ours.Chunks} chunks; llama-perplexity's running estimates {string.Join(", ", expected)}");
            Assert.Equal(8, ours.Chunks);
            for (var k = 0; k < expected.Count; k++)
            {
                Assert.True(Math.Abs(running[k] - expected[k]) <= tolerance * expected[k], $"after chunk {k + 1}: ours {running[k]}, llama-perplexity {expected[k]}");
            }
        }
        finally
        {
            File.Delete(text);
        }
    }

    /// <summary>llama-perplexity's running estimate after each chunk ([1]…, [2]…): the last is its final estimate.</summary>
    private static List<double> RunReference(string model, string text, int context)
    {
        var tool = Path.Combine(TestPaths.ReferenceDir, "bin", "llama-perplexity");
        if (!ReferenceLibrary.CanRun)
        {
            Assert.Skip("llama.cpp's reference tools are built for linux-x64");
        }

        TestPaths.SkipOrFailWithoutReference(File.Exists(tool), "llama.cpp's llama-perplexity");
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["LD_LIBRARY_PATH"] = Path.GetDirectoryName(tool)!;
        foreach (var a in new[] { "-m", model, "-f", text, "-c", $"{context}", "-b", $"{context}", "-t", "2" })
        {
            psi.ArgumentList.Add(a);
        }

        // llama.cpp prints through a logging thread and was seen to exit before printing everything when the
        // machine is busy (shared/README.md): keep the longest run of estimates from a few attempts.
        var best = new List<double>();
        var all = "";
        for (var attempt = 0; attempt < 4 && best.Count < 8; attempt++)
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            all = stdout.Result + stderr;
            Assert.True(p.ExitCode == 0, $"llama-perplexity failed ({p.ExitCode}):\n{all[^Math.Min(all.Length, 2000)..]}");
            var estimates = Running().Matches(stdout.Result).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            if (estimates.Count > best.Count)
            {
                best = estimates;
            }
        }

        Assert.True(best.Count >= 4, $"llama-perplexity printed {best.Count} chunk estimates in 4 runs:\n{all[^Math.Min(all.Length, 2000)..]}");
        return best;
    }

    [GeneratedRegex(@"\[\d+\]([0-9.]+),")]
    private static partial Regex Running();
}
