using System.Text;
using First.Cpu.Tokenization;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// llama.cpp's tokenizer test vocabularies (shared/vocab): every string of X.gguf.inp tokenizes, without
/// BOS, to the ids of its line in X.gguf.out, and decodes back to itself.
/// </summary>
public sealed class TokenizerTests
{
    public static TheoryData<string> Vocabularies() =>
        ["ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf", "ggml-vocab-gpt-2.gguf"];

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

    [Fact]
    public void A_prompt_starts_with_bos_as_llama_cpp_adds_it()
    {
        using var file = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        var tokenizer = Tokenizer.FromGguf(file);
        Assert.Equal([1, 403, 407, 261, 378], tokenizer.Encode("Once upon a time"));
    }

    internal static (Tokenizer Tokenizer, List<(string Text, int[] Ids)> Cases) Load(string vocab)
    {
        var path = TestPaths.Vocab(vocab);
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
}
