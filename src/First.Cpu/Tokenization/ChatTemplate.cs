using System.Text;

namespace First.Cpu.Tokenization;

/// <summary>The chat formats we render (llama.cpp's llm_chat_template names).</summary>
public enum ChatFormat
{
    /// <summary>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n (Qwen, SmolLM, many others; the fallback).</summary>
    ChatMl,

    /// <summary>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt; (Llama 3).</summary>
    Llama3,

    /// <summary>[INST] &lt;&lt;SYS&gt;&gt;…&lt;&lt;/SYS&gt;&gt; user [/INST] assistant&lt;/s&gt; (Llama 2, Mistral).</summary>
    Llama2,

    /// <summary>&lt;|role|&gt;\ncontent&lt;|end|&gt;\n (Phi-3).</summary>
    Phi3,

    /// <summary>&lt;|role|&gt;\ncontent&lt;/s&gt;\n (Zephyr, TinyLlama chat).</summary>
    Zephyr,
}

/// <summary>One message of a conversation.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A chat template recognised from <c>tokenizer.chat_template</c> by its markers, as llama.cpp's
/// llm_chat_detect_template does, and rendered by hand: no Jinja engine. The rendered text is meant to be
/// tokenized with special tokens parsed (the markers are control tokens).
/// </summary>
public sealed class ChatTemplate
{
    private ChatTemplate(ChatFormat format) => Format = format;

    /// <summary>The recognised format.</summary>
    public ChatFormat Format { get; }

    /// <summary>The format of a Jinja template's text; ChatML when there is none or it is not recognised.</summary>
    public static ChatTemplate Detect(string? template)
    {
        bool Has(string s) => template?.Contains(s, StringComparison.Ordinal) == true;
        var format = template switch
        {
            _ when Has("<|im_start|>") => ChatFormat.ChatMl,
            _ when Has("<|start_header_id|>") && Has("<|end_header_id|>") => ChatFormat.Llama3,
            _ when Has("<|assistant|>") && Has("<|end|>") => ChatFormat.Phi3,
            _ when Has("<|user|>") && Has("</s>") => ChatFormat.Zephyr,
            _ when Has("[INST]") => ChatFormat.Llama2,
            _ => ChatFormat.ChatMl,
        };
        return new ChatTemplate(format);
    }

    /// <summary>The conversation as text, ending with the assistant's opening when <paramref name="addAssistant"/>.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addAssistant = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        switch (Format)
        {
            case ChatFormat.ChatMl:
                foreach (var m in messages)
                {
                    sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
                }

                if (addAssistant)
                {
                    sb.Append("<|im_start|>assistant\n");
                }

                break;
            case ChatFormat.Llama3:
                foreach (var m in messages)
                {
                    sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(m.Content.Trim()).Append("<|eot_id|>");
                }

                if (addAssistant)
                {
                    sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }

                break;
            case ChatFormat.Phi3:
            case ChatFormat.Zephyr:
                var end = Format == ChatFormat.Phi3 ? "<|end|>" : "</s>";
                foreach (var m in messages)
                {
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append(end).Append('\n');
                }

                if (addAssistant)
                {
                    sb.Append("<|assistant|>\n");
                }

                break;
            case ChatFormat.Llama2:
                string? system = null;
                var open = false;
                foreach (var m in messages)
                {
                    switch (m.Role)
                    {
                        case "system":
                            system = m.Content;
                            break;
                        case "user":
                            sb.Append("[INST] ");
                            if (system is not null)
                            {
                                sb.Append("<<SYS>>\n").Append(system).Append("\n<</SYS>>\n\n");
                                system = null;
                            }

                            sb.Append(m.Content.Trim()).Append(" [/INST]");
                            open = true;
                            break;
                        default:
                            sb.Append(' ').Append(m.Content.Trim()).Append("</s>");
                            open = false;
                            break;
                    }
                }

                _ = open;
                break;
        }

        return sb.ToString();
    }
}
