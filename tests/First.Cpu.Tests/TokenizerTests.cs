using System.Text;
using First.Cpu.Tokenization;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// llama.cpp's tokenizer test vocabularies (shared/vocab, and the models/ folder of the pinned llama.cpp source that
/// build/reference.sh vocab extracts): every string of X.gguf.inp tokenizes, without BOS, to the ids of its line in
/// X.gguf.out, and decodes back to itself.
/// </summary>
public sealed class TokenizerTests
{
    public static TheoryData<string> Vocabularies() =>
    [
        "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf", "ggml-vocab-gpt-2.gguf",
        "source:ggml-vocab-starcoder.gguf", // the pre-tokenizer chain of smollm, refact and command-r: digits, then GPT-2's
        "source:ggml-vocab-refact.gguf",
        "source:ggml-vocab-command-r.gguf",
        "source:ggml-vocab-falcon.gguf",
        "source:ggml-vocab-mpt.gguf",
    ];

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Every_test_string_gives_llama_cpp_ids(string vocab)
    {
        var (tokenizer, cases) = Load(vocab);
        var failures = cases
            .Where(c => !tokenizer.Encode(c.Text, addSpecial: false).SequenceEqual(c.Ids))
            .Select(c => $"'{c.Text}': expected [{string.Join(' ', c.Ids)}], got [{string.Join(' ', tokenizer.Encode(c.Text, addSpecial: false))}]")
            .ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} strings differ:\n{string.Join('\n', failures)}");
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Every_test_string_decodes_to_itself(string vocab)
    {
        var (tokenizer, cases) = Load(vocab);
        Assert.All(cases, c => Assert.Equal(c.Text, tokenizer.Decode(tokenizer.Encode(c.Text, addSpecial: false))));
    }

    [Theory]
    [InlineData(null)]       // no tokenizer.ggml.pre: llama.cpp's default chain of four expressions
    [InlineData("gpt-4o")]   // Phi-4-mini's
    [InlineData("smollm")]
    [InlineData("llama-bpe")]
    [InlineData("qwen2")]
    public async Task GPT_2_vocabulary_under_each_pre_tokenizer_splits_as_llama_tokenize(string? pre)
    {
        // GPT-2's vocabulary with tokenizer.ggml.pre replaced (or removed), each test string against llama.cpp's llama-tokenize.
        var tool = Path.Combine(TestPaths.ReferenceDir, "bin", "llama-tokenize");
        if (!ReferenceLibrary.CanRun)
        {
            Assert.Skip("llama.cpp's llama-tokenize is built for linux-x64");
        }

        TestPaths.SkipOrFailWithoutReference(File.Exists(tool), "llama.cpp's llama-tokenize");
        var (_, cases) = Load("ggml-vocab-gpt-2.gguf");
        var dir = Directory.CreateTempSubdirectory("first-default-pre-");
        try
        {
            var path = Path.Combine(dir.FullName, "vocab.gguf");
            using (var source = GgufFile.Open(TestPaths.Vocab("ggml-vocab-gpt-2.gguf")))
            using (var writer = GgufWriter.CreateFile(path))
            {
                foreach (var (key, value) in source.Metadata.Where(kv => kv.Key != "tokenizer.ggml.pre"))
                {
                    writer.Metadata.Add(key, value);
                }

                if (pre is not null)
                {
                    writer.Metadata.Add("tokenizer.ggml.pre", GgufValue.FromString(pre));
                }

                writer.Finish();
            }

            using var file = GgufFile.Open(path);
            var tokenizer = Tokenizer.FromGguf(file);
            var failures = new List<string>();
            foreach (var (text, _) in cases.Where(c => c.Text.Length > 0))
            {
                var input = Path.Combine(dir.FullName, "text.txt");
                await File.WriteAllTextAsync(input, text, new UTF8Encoding(false), TestContext.Current.CancellationToken);
                var psi = new System.Diagnostics.ProcessStartInfo(tool, ["-m", path, "-f", input, "--ids", "--no-bos", "--log-disable"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                psi.Environment["LD_LIBRARY_PATH"] = Path.GetDirectoryName(tool);
                using var p = System.Diagnostics.Process.Start(psi)!;
                var ct = TestContext.Current.CancellationToken;
                var stderr = p.StandardError.ReadToEndAsync(ct);
                var stdout = await p.StandardOutput.ReadToEndAsync(ct);
                await p.WaitForExitAsync(ct);
                Assert.True(p.ExitCode == 0, $"llama-tokenize failed: {await stderr}");
                var line = stdout.Split('\n').Last(l => l.StartsWith('['));
                int[] expected = [.. line.Trim('[', ']', ' ', '\r').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse)];
                var actual = tokenizer.Encode(text, addSpecial: false);
                if (!actual.SequenceEqual(expected))
                {
                    failures.Add($"'{text}': llama-tokenize [{string.Join(' ', expected)}], ours [{string.Join(' ', actual)}]");
                }
            }

            Assert.True(failures.Count == 0, string.Join('\n', failures));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_prompt_starts_with_bos_as_llama_cpp_adds_it()
    {
        using var file = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        var tokenizer = Tokenizer.FromGguf(file);
        Assert.Equal([1, 403, 407, 261, 378], tokenizer.Encode("Once upon a time"));
    }

    internal static (Tokenizer Tokenizer, List<(string Text, int[] Ids)> Cases) Load(string vocab)
    {
        var path = vocab.StartsWith("source:", StringComparison.Ordinal) ? SourceVocab(vocab["source:".Length..]) : TestPaths.Vocab(vocab);
        using var file = GgufFile.Open(path);
        var tokenizer = Tokenizer.FromGguf(file);
        var texts = File.ReadAllText(path + ".inp", Encoding.UTF8).Split("\n__ggml_vocab_test__\n");
        var ids = File.ReadAllLines(path + ".out");
        var cases = new List<(string, int[])>();
        for (var i = 0; i < ids.Length; i++)
        {
            cases.Add((texts[i], [.. ids[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)]));
        }

        Assert.Equal(ids.Length, texts.Length - 1);
        return (tokenizer, cases);
    }

    /// <summary>A vocabulary of the pinned llama.cpp source's models/ folder, as build/reference.sh vocab extracts it.</summary>
    private static string SourceVocab(string name)
    {
        var path = Path.Combine(TestPaths.ReferenceDir + "-vocab", name);
        TestPaths.SkipOrFailWithoutReference(File.Exists(path + ".out"), $"llama.cpp's tokenizer test vocabulary {name} (build/reference.sh vocab)");
        return path;
    }
}
