using First.Tests;
using System.Text.Json;

namespace First.Gguf.Tests;

/// <summary><c>first inspect</c>: what it prints, and how it fails.</summary>
[Collection(nameof(ConsoleCollection))]
public sealed class CliInspectTests
{
    [Fact]
    public void Inspect_stories260K_shows_the_model()
    {
        var (exit, stdout, stderr) = ConsoleCapture.Run("inspect", TestPaths.Model("stories260K.gguf"));
        Assert.Equal(0, exit);
        Assert.Empty(stderr);
        Assert.Contains("architecture  llama\n", stdout, StringComparison.Ordinal);
        Assert.Contains("layers        5\n", stdout, StringComparison.Ordinal);
        Assert.Contains("embedding     64\n", stdout, StringComparison.Ordinal);
        Assert.Contains("heads         8 (kv 4, head dim 8)\n", stdout, StringComparison.Ordinal);
        Assert.Contains("vocabulary    512 tokens, llama tokenizer", stdout, StringComparison.Ordinal);
        Assert.Contains("tensors       48 f32;", stdout, StringComparison.Ordinal);
        Assert.Contains("tensors (48)", stdout, StringComparison.Ordinal);
        Assert.Matches(@"\n\s+48  blk\.4\.ffn_norm\.weight\s+f32\s+64\s", stdout);
    }

    [Fact]
    public void Inspect_json_is_valid_and_complete()
    {
        var (exit, stdout, _) = ConsoleCapture.Run("inspect", "--json", TestPaths.Model("stories260K-Q4_0.gguf"));
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("llama", root.GetProperty("model").GetProperty("architecture").GetString());
        Assert.Equal(5, root.GetProperty("model").GetProperty("blockCount").GetInt32());
        Assert.Equal(4, root.GetProperty("model").GetProperty("headCountKv").GetInt32());
        Assert.Equal(512, root.GetProperty("model").GetProperty("vocabularySize").GetInt32());
        Assert.Equal(48, root.GetProperty("tensors").GetArrayLength());
        Assert.Contains(root.GetProperty("tensors").EnumerateArray(), t => t.GetProperty("type").GetString() == "q4_0");
        var tokens = root.GetProperty("metadata").EnumerateArray().Single(m => m.GetProperty("key").GetString() == "tokenizer.ggml.tokens");
        Assert.Equal(512, tokens.GetProperty("count").GetInt32());
        Assert.Equal(8, tokens.GetProperty("value").GetArrayLength()); // --array-limit 8 by default
    }

    [Fact]
    public void Every_shared_file_inspects_in_text_and_json()
    {
        foreach (var path in TestPaths.AllSharedGgufFiles())
        {
            var text = ConsoleCapture.Run("inspect", path);
            Assert.True(text.Exit == 0, $"{path}: {text.Err}");
            var json = ConsoleCapture.Run("inspect", "--json", "--array-limit", "0", path);
            Assert.True(json.Exit == 0, $"{path}: {json.Err}");
            using var doc = JsonDocument.Parse(json.Out);
            Assert.NotEmpty(doc.RootElement.GetProperty("metadata").EnumerateArray());
        }
    }

    [Fact]
    public void Inspect_says_whether_a_file_runs_and_names_what_is_missing()
    {
        var dir = Directory.CreateTempSubdirectory("first-inspect-runs-").FullName;
        try
        {
            string Runs(string path)
            {
                var (exit, stdout, _) = ConsoleCapture.Run("inspect", path);
                Assert.Equal(0, exit);
                return stdout.Split('\n').Single(l => l.StartsWith("runs ", StringComparison.Ordinal))["runs".Length..].Trim();
            }

            var model = TestPaths.Model("stories260K.gguf");
            Assert.Equal("yes", Runs(model));
            Assert.Equal("no: model: no tensors (a vocabulary-only file)", Runs(TestPaths.Vocab("ggml-vocab-gpt-2.gguf")));

            var architecture = Path.Combine(dir, "mamba.gguf");
            TestModels.Copy(model, architecture, (k, v) => k == "general.architecture" ? GgufValue.FromString("mamba") : v);
            Assert.StartsWith("no: architecture: architecture 'mamba' is not supported", Runs(architecture), StringComparison.Ordinal);

            var tensor = Path.Combine(dir, "no-query.gguf");
            TestModels.Copy(model, tensor, keepTensor: name => name != "blk.3.attn_q.weight");
            var missing = Runs(tensor);
            Assert.StartsWith("no: tensor:", missing, StringComparison.Ordinal);
            Assert.Contains("blk.3.attn_q.weight", missing, StringComparison.Ordinal);

            var tokenizer = Path.Combine(dir, "tokenizer.gguf");
            TestModels.Copy(model, tokenizer, (k, v) => k == "tokenizer.ggml.model" ? GgufValue.FromString("rwkv") : v);
            Assert.StartsWith("no: tokenizer:", Runs(tokenizer), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_malformed_file_is_one_line_on_stderr_and_exit_1()
    {
        var path = Path.Combine(Path.GetTempPath(), $"first-bad-{Guid.NewGuid():N}.gguf");
        try
        {
            var bytes = File.ReadAllBytes(TestPaths.Model("stories260K.gguf"));
            File.WriteAllBytes(path, bytes[..5000]); // cut inside the tokenizer strings
            var (exit, stdout, stderr) = ConsoleCapture.Run("inspect", path);
            Assert.Equal(1, exit);
            Assert.Empty(stdout);
            Assert.Equal(1, stderr.Count(c => c == '\n'));
            Assert.StartsWith("first: invalid GGUF file: key 'tokenizer.ggml.tokens' at byte ", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_missing_file_is_one_line_and_exit_1()
    {
        var (exit, _, stderr) = ConsoleCapture.Run("inspect", "/nonexistent/model.gguf");
        Assert.Equal(1, exit);
        Assert.Equal("first: no such file: /nonexistent/model.gguf\n", stderr);
    }

    [Fact]
    public void A_bad_flag_is_one_line_and_exit_2()
    {
        var (exit, stdout, stderr) = ConsoleCapture.Run("inspect", "--frobnicate", TestPaths.Model("stories260K.gguf"));
        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.Equal(1, stderr.Count(c => c == '\n'));
        Assert.Contains("--frobnicate", stderr, StringComparison.Ordinal);
    }
}
