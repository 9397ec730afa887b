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

    /// <summary>A template's markers, llama.cpp's name for its format, and ours.</summary>
    public static TheoryData<string, string, ChatFormat> LlamaCppFormats() => new()
    {
        { "{{ '<|im_start|>' + message['role'] }}", "chatml", ChatFormat.ChatMl },
        { "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' }}", "phi4", ChatFormat.Phi4 },
        { "{{ '<start_of_turn>' + role }}", "gemma", ChatFormat.Gemma },
        { "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}", "llama3", ChatFormat.Llama3 },
        { "{{ '<|user|>' }} {{ '<|assistant|>' }} {{ '<|end|>' }}", "phi3", ChatFormat.Phi3 },
        { "{{ '[INST]' }} {{ '[AVAILABLE_TOOLS]' }}", "mistral-v3", ChatFormat.MistralV3 },
        { "{{- \"[INST]\" }} {{ '[AVAILABLE_TOOLS]' }}", "mistral-v3-tekken", ChatFormat.MistralV3Tekken },
        { "{{ '[SYSTEM_PROMPT]' }} {{ '[INST]' }}", "mistral-v7", ChatFormat.MistralV7 },
        { "{{ '<｜User｜>' }} {{ '<｜Assistant｜>' }} {{ '<｜end▁of▁sentence｜>' }}", "deepseek3", ChatFormat.DeepSeek3 },
    };

    [Theory]
    [MemberData(nameof(LlamaCppFormats))]
    public void Each_format_renders_as_llama_cpp_renders_it(string markers, string name, ChatFormat format)
    {
        var template = ChatTemplate.Detect(markers);
        Assert.Equal(format, template.Format);
        foreach (var conversation in new[] { Conversation, Conversation[1..], Conversation[..3] })
        {
            var messages = conversation.Select(m => (m.Role, m.Content)).ToArray();
            foreach (var addAssistant in new[] { true, false })
            {
                var byName = ReferenceLlama.ApplyChatTemplate(name, messages, addAssistant);
                Assert.NotNull(byName);
                Assert.Equal(byName, ReferenceLlama.ApplyChatTemplate(markers, messages, addAssistant)); // llama.cpp recognises the markers as that format
                Assert.Equal(byName, template.Render(conversation, addAssistant));
            }
        }
    }

    [Fact]
    public void Qwen3_keeps_only_the_answers_of_earlier_turns_and_can_switch_thinking_off()
    {
        // Qwen3's template: "{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1].lstrip('\n') %}"
        // for assistant turns before the last user query, and enable_thinking=false adds an empty think block.
        var template = ChatTemplate.Detect("{{ '<|im_start|>' }} {%- if '</think>' in content %}");
        Assert.Equal(ChatFormat.Qwen3, template.Format);
        ChatMessage[] chat = [new("user", "Hi"), new("assistant", "<think>\nA greeting.\n</think>\n\nHello!"), new("user", "Bye")];
        const string History = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n";
        Assert.Equal(History + "<|im_start|>assistant\n", template.Render(chat));
        Assert.Equal(History + "<|im_start|>assistant\n<think>\n\n</think>\n\n", template.WithThinking(false).Render(chat));
    }

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
