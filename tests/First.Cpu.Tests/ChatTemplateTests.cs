using First.Cpu.Tokenization;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Chat templates are recognised from their markers and rendered in their format.</summary>
public sealed class ChatTemplateTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "Be brief."),
        new("user", "Hi"),
        new("assistant", "Hello!"),
        new("user", "Name a color."),
    ];

    [Theory]
    [InlineData("ggml-vocab-qwen2.gguf", ChatFormat.ChatMl)]
    [InlineData("ggml-vocab-phi-3.gguf", ChatFormat.Phi3)]
    public void The_templates_of_the_shared_vocabularies_are_recognised(string vocab, ChatFormat format)
    {
        using var file = GgufFile.Open(TestPaths.Vocab(vocab));
        Assert.Equal(format, ChatTemplate.Detect(file.Metadata.GetString("tokenizer.chat_template")).Format);
    }

    [Fact]
    public void Each_format_renders_as_its_model_expects()
    {
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.Detect(null).Render(Conversation));
        Assert.Equal(
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nName a color.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.Detect("{{'<|start_header_id|>' + role + '<|end_header_id|>'}}").Render(Conversation));
        Assert.Equal(
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nName a color.<|end|>\n<|assistant|>\n",
            ChatTemplate.Detect("<|user|> <|assistant|> <|end|>").Render(Conversation));
        Assert.Equal(
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nName a color.</s>\n<|assistant|>\n",
            ChatTemplate.Detect("<|user|> ... </s>").Render(Conversation));
        Assert.Equal(
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello!</s>[INST] Name a color. [/INST]",
            ChatTemplate.Detect("{% if message['role'] == 'user' %}[INST]{% endif %}").Render(Conversation));
    }

    [Fact]
    public void Rendered_markers_become_control_tokens()
    {
        using var file = GgufFile.Open(TestPaths.Vocab("ggml-vocab-qwen2.gguf"));
        var tokenizer = Tokenizer.FromGguf(file);
        var ids = tokenizer.Encode(ChatTemplate.Detect(null).Render([new("user", "Hi")]), addSpecial: false, parseSpecial: true);
        var start = tokenizer.Vocabulary.Find("<|im_start|>");
        var end = tokenizer.Vocabulary.Find("<|im_end|>");
        Assert.Equal(start, ids[0]);
        Assert.Contains(end, ids);
        Assert.Equal(2, ids.Count(i => i == start));
        Assert.True(tokenizer.Vocabulary.IsEndOfGeneration(end));
    }
}
