using System.Text;
using First.Cpu.Kernels;
using First.Cpu.Model;
using First.Cpu.Sampling;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// Greedy generation reproduces llama.cpp's greedy text on the same file, from the llama.cpp build whose order the engine
/// follows here (<see cref="ReferenceBuild"/>): llama.cpp's own text can part at a near tie between builds for different
/// CPUs, so the expected tokens are produced on this host. The golden table of shared/models/README.md was written by an
/// AVX-512 build; where the engine follows that order, the reference must reproduce the table as well.
/// </summary>
[Trait(TestTraits.Isa, TestTraits.Kernels)]
[Trait(TestTraits.Isa, TestTraits.Order)]
public sealed class GoldenOutputTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (models, prompt, _) in ReadGoldenTable())
        {
            foreach (var m in models)
            {
                data.Add(m, prompt);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_generation_reproduces_llama_cpp(string file, string prompt)
    {
        var path = TestPaths.Model(file);
        var golden = ReadGoldenTable().Single(g => g.Models.Contains(file) && g.Prompt == prompt).Text;
        if (!ReferenceLibrary.CanRun)
        {
            // arm64 (under qemu in the suite): no reference runs here; the engine follows the AVX-512 order there, the table's.
            Compare(path, prompt, golden);
            return;
        }

        var expected = ReferenceLlama.GreedyText(path, prompt, 48).Split('\n')[0];
        output.WriteLine($"{ReferenceBuild.Describe()}: {expected}");
        if (GgmlOrders.Current == GgmlOrder.Avx512)
        {
            Assert.Equal(golden, expected); // the table's build
        }
        else if (expected != golden)
        {
            output.WriteLine($"this build's text parts from the AVX-512 table: {golden}");
        }

        Compare(path, prompt, expected);
    }

    /// <summary>Our greedy text against <paramref name="expected"/> (up to its first line break), token for token.</summary>
    private void Compare(string path, string prompt, string expected)
    {
        using var model = LanguageModel.Open(path);
        using var generator = new Generator(model, new SessionOptions { Threads = 2 }, SamplerOptions.Greedy);
        var result = generator.Generate(prompt, 48);
        var ours = prompt + Encoding.UTF8.GetString([.. result.Tokens.SelectMany(t => model.Tokenizer.Piece(t).ToArray())]);
        output.WriteLine(ours);

        // Compared up to the first line break, as the table holds it.
        var line = ours.Split('\n')[0];
        if (line == expected)
        {
            return;
        }

        // Token for token, on every path. For the failure message: where it turns and llama.cpp's margin there.
        var expectedIds = model.Tokenizer.Encode(expected[..expected.LastIndexOf(' ')]);
        var oursIds = result.PromptTokens.Concat(result.Tokens).ToArray();
        var k = 0;
        while (k < expectedIds.Length && k < oursIds.Length && expectedIds[k] == oursIds[k])
        {
            k++;
        }

        var logits = ReferenceLlama.Logits(path, expectedIds[..k])[k - 1];
        Assert.Fail($"\nexpected: {expected}\nactual:   {line}\ndiffers at token {k}: llama.cpp {expectedIds[k]} ({logits[expectedIds[k]]}), ours {oursIds[k]} ({logits[oursIds[k]]})");
    }

    /// <summary>(model files, prompt, text) rows of the golden table.</summary>
    internal static IEnumerable<(string[] Models, string Prompt, string Text)> ReadGoldenTable()
    {
        var lines = File.ReadAllLines(TestPaths.Model("README.md"), Encoding.UTF8);
        foreach (var l in lines.SkipWhile(l => !l.StartsWith("## Golden", StringComparison.Ordinal)))
        {
            var cells = l.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length < 5 || !cells[1].Contains("Q", StringComparison.Ordinal) && !cells[1].Contains("F32", StringComparison.Ordinal))
            {
                continue;
            }

            var models = cells[1].Split(',', StringSplitOptions.TrimEntries).Select(m => m switch
            {
                "F32" => "stories260K.gguf",
                "Q8_0" => "stories260K-Q8_0.gguf",
                "Q4_0" => "stories260K-Q4_0.gguf",
                _ => throw new InvalidDataException($"unknown model column '{m}'"),
            }).ToArray();
            yield return (models, cells[2], cells[3]);
        }
    }
}
