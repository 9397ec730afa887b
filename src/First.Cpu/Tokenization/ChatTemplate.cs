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

    /// <summary>&lt;start_of_turn&gt;user\ncontent&lt;end_of_turn&gt;\n, the assistant as "model", a system message merged into the next user turn (Gemma 1-3).</summary>
    Gemma,

    /// <summary>&lt;|im_start|&gt;role&lt;|im_sep|&gt;content&lt;|im_end|&gt; (Phi-4).</summary>
    Phi4,

    /// <summary>[INST] system\n\nuser[/INST] assistant&lt;/s&gt;, the assistant's text trimmed (Mistral v3).</summary>
    MistralV3,

    /// <summary>Mistral v3 without the spaces after [INST] and before the assistant's text (Mistral Nemo, tekken vocabularies).</summary>
    MistralV3Tekken,

    /// <summary>[SYSTEM_PROMPT] system[/SYSTEM_PROMPT][INST] user[/INST] assistant&lt;/s&gt; (Mistral Large 2411, Small 3).</summary>
    MistralV7,

    /// <summary>Mistral v7 without the spaces (tekken vocabularies; llama.cpp takes it by name only, never from markers).</summary>
    MistralV7Tekken,

    /// <summary>system\n\n&lt;｜User｜&gt;user&lt;｜Assistant｜&gt;assistant&lt;｜end▁of▁sentence｜&gt; (DeepSeek-V3 and R1, and R1's distills).</summary>
    DeepSeek3,

    /// <summary>
    /// ChatML as Qwen3's template writes it: earlier assistant turns keep only their answer (the text after
    /// &lt;/think&gt;), and with thinking switched off the assistant's opening is followed by an empty think block.
    /// </summary>
    Qwen3,
}

/// <summary>One message of a conversation.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A chat template recognised from <c>tokenizer.chat_template</c> by its markers, as llama.cpp's
/// llm_chat_detect_template does (src/llama-chat.cpp, in its order), and rendered by hand as its
/// llm_chat_apply_template renders the format: no Jinja engine. The rendered text is meant to be tokenized with
/// special tokens parsed (the markers are control tokens).
/// </summary>
public sealed class ChatTemplate
{
    private ChatTemplate(ChatFormat format) => Format = format;

    /// <summary>The recognised format.</summary>
    public ChatFormat Format { get; }

    /// <summary>
    /// Qwen3: whether the model may think before answering (its template's enable_thinking, true by default). Off, the
    /// assistant's opening carries an empty think block, which tells the model to answer directly.
    /// </summary>
    public bool Thinking { get; private init; } = true;

    /// <summary>The same template with thinking on or off (<see cref="Thinking"/>).</summary>
    public ChatTemplate WithThinking(bool thinking) => new(Format) { Thinking = thinking };

    /// <summary>The format of a Jinja template's text; ChatML when there is none or it is not recognised.</summary>
    public static ChatTemplate Detect(string? template)
    {
        bool Has(string s) => template?.Contains(s, StringComparison.Ordinal) == true;
        var format = template switch
        {
            _ when Has("<|im_start|>") => Has("<|im_sep|>") ? ChatFormat.Phi4 : Has("</think>") ? ChatFormat.Qwen3 : ChatFormat.ChatMl,
            _ when template?.StartsWith("mistral", StringComparison.Ordinal) == true || Has("[INST]") => Has("[SYSTEM_PROMPT]")
                ? ChatFormat.MistralV7
                : Has("[AVAILABLE_TOOLS]") ? (Has("\"[INST]\"") ? ChatFormat.MistralV3Tekken : ChatFormat.MistralV3) : ChatFormat.Llama2,
            _ when Has("<|assistant|>") && Has("<|end|>") => ChatFormat.Phi3,
            _ when Has("<|user|>") && Has("</s>") => ChatFormat.Zephyr,
            _ when Has("<start_of_turn>") => ChatFormat.Gemma,
            _ when Has("<|start_header_id|>") && Has("<|end_header_id|>") => ChatFormat.Llama3,
            _ when Has("<｜Assistant｜>") && Has("<｜User｜>") && Has("<｜end▁of▁sentence｜>") => ChatFormat.DeepSeek3,
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
            case ChatFormat.Qwen3:
                RenderQwen3(messages, addAssistant, sb);
                break;
            case ChatFormat.Phi4:
                foreach (var m in messages)
                {
                    sb.Append("<|im_start|>").Append(m.Role).Append("<|im_sep|>").Append(m.Content).Append("<|im_end|>");
                }

                if (addAssistant)
                {
                    sb.Append("<|im_start|>assistant<|im_sep|>");
                }

                break;
            case ChatFormat.Gemma:
                var systemPrompt = "";
                foreach (var m in messages)
                {
                    if (m.Role == "system")
                    {
                        systemPrompt += Trim(m.Content);
                        continue;
                    }

                    var role = m.Role == "assistant" ? "model" : m.Role;
                    sb.Append("<start_of_turn>").Append(role).Append('\n');
                    if (systemPrompt.Length > 0 && role != "model")
                    {
                        sb.Append(systemPrompt).Append("\n\n");
                        systemPrompt = "";
                    }

                    sb.Append(Trim(m.Content)).Append("<end_of_turn>\n");
                }

                if (addAssistant)
                {
                    sb.Append("<start_of_turn>model\n");
                }

                break;
            case ChatFormat.MistralV3:
            case ChatFormat.MistralV3Tekken:
                var space = Format == ChatFormat.MistralV3 ? " " : "";
                var inTurn = false;
                foreach (var m in messages)
                {
                    if (!inTurn)
                    {
                        sb.Append("[INST]").Append(space);
                        inTurn = true;
                    }

                    switch (m.Role)
                    {
                        case "system":
                            sb.Append(m.Content).Append("\n\n");
                            break;
                        case "user":
                            sb.Append(m.Content).Append("[/INST]");
                            break;
                        default:
                            sb.Append(space).Append(Format == ChatFormat.MistralV3 ? Trim(m.Content) : m.Content).Append("</s>");
                            inTurn = false;
                            break;
                    }
                }

                break;
            case ChatFormat.MistralV7:
            case ChatFormat.MistralV7Tekken:
                var gap = Format == ChatFormat.MistralV7 ? " " : "";
                foreach (var m in messages)
                {
                    _ = m.Role switch
                    {
                        "system" => sb.Append("[SYSTEM_PROMPT]").Append(gap).Append(m.Content).Append("[/SYSTEM_PROMPT]"),
                        "user" => sb.Append("[INST]").Append(gap).Append(m.Content).Append("[/INST]"),
                        _ => sb.Append(gap).Append(m.Content).Append("</s>"),
                    };
                }

                break;
            case ChatFormat.DeepSeek3:
                foreach (var m in messages)
                {
                    _ = m.Role switch
                    {
                        "system" => sb.Append(m.Content).Append("\n\n"),
                        "user" => sb.Append("<｜User｜>").Append(m.Content),
                        "assistant" => sb.Append("<｜Assistant｜>").Append(m.Content).Append("<｜end▁of▁sentence｜>"),
                        _ => sb,
                    };
                }

                if (addAssistant)
                {
                    sb.Append("<｜Assistant｜>");
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

    /// <summary>
    /// Qwen3's template (its tokenizer_config.json): ChatML, where an assistant turn before the last user message keeps
    /// only the text after its last &lt;/think&gt; (leading line breaks dropped), and with <see cref="Thinking"/> off the
    /// opening of the answer is followed by an empty think block.
    /// </summary>
    private void RenderQwen3(IReadOnlyList<ChatMessage> messages, bool addAssistant, StringBuilder sb)
    {
        var lastUser = -1;
        for (var i = 0; i < messages.Count; i++)
        {
            lastUser = messages[i].Role == "user" ? i : lastUser;
        }

        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            var content = m.Content;
            if (m.Role == "assistant" && i < lastUser && content.LastIndexOf("</think>", StringComparison.Ordinal) is var end and >= 0)
            {
                content = content[(end + "</think>".Length)..].TrimStart('\n');
            }

            sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(content).Append("<|im_end|>\n");
        }

        if (addAssistant)
        {
            sb.Append("<|im_start|>assistant\n");
            if (!Thinking)
            {
                sb.Append("<think>\n\n</think>\n\n");
            }
        }
    }

    /// <summary>llama-chat.cpp's trim: ASCII white space off both ends.</summary>
    private static string Trim(string s) => s.Trim(' ', '\t', '\n', '\v', '\f', '\r');
}
