using System.Text;
using First.Cpu.Model;
using First.Cpu.Sampling;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Greedy generation reproduces llama.cpp's golden outputs of shared/models/README.md.</summary>
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
        var golden = ReadGoldenTable().Single(g => g.Models.Contains(file) && g.Prompt == prompt).Text;
        var path = TestPaths.Model(file);
        using var model = LanguageModel.Open(path);
        using var generator = new Generator(model, new SessionOptions { Threads = 2 }, SamplerOptions.Greedy);
        var result = generator.Generate(prompt, 48);
        var ours = prompt + Encoding.UTF8.GetString([.. result.Tokens.SelectMany(t => model.Tokenizer.Piece(t).ToArray())]);
        output.WriteLine(ours);

        // The table holds the text up to its first line break.
        var line = ours.Split('\n')[0];
        if (line == golden)
        {
            return;
        }

        // Token for token, on every path. For the failure message: where it turns and llama.cpp's margin there.
        var goldenIds = model.Tokenizer.Encode(golden[..golden.LastIndexOf(' ')]);
        var oursIds = result.PromptTokens.Concat(result.Tokens).ToArray();
        var k = 0;
        while (k < goldenIds.Length && k < oursIds.Length && goldenIds[k] == oursIds[k])
        {
            k++;
        }

        var logits = ReferenceLlama.Logits(path, goldenIds[..k])[k - 1];
        Assert.Fail($"\nexpected: {golden}\nactual:   {line}\ndiffers at token {k}: llama.cpp {goldenIds[k]} ({logits[goldenIds[k]]}), ours {oursIds[k]} ({logits[oursIds[k]]})");
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
