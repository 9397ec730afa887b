using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using First.Gguf;

namespace First.Cli.Commands;

/// <summary><c>first inspect FILE [--json]</c>: what a GGUF file holds, like gguf-dump.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A GGUF file (model, vocabulary or router file)" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var arrayLimit = new Option<int>("--array-limit")
        {
            Description = "How many elements of each metadata array to show (0: all)",
            DefaultValueFactory = _ => 8,
        };
        var command = new Command("inspect", "Show the header, hyperparameters, metadata and tensor table of a GGUF file");
        command.Arguments.Add(file);
        command.Options.Add(json);
        command.Options.Add(arrayLimit);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var limit = r.GetValue(arrayLimit);
            if (limit < 0)
            {
                return CliErrors.Fail($"--array-limit must be 0 or more, not {limit}");
            }

            using var gguf = GgufFile.Open(CliErrors.RequireFile(r.GetValue(file)!));
            var text = r.GetValue(json) ? RenderJson(gguf, limit == 0 ? int.MaxValue : limit) : RenderText(gguf, limit == 0 ? int.MaxValue : limit);
            Console.Out.Write(text);
            return 0;
        }));
        return command;
    }

    public static string RenderText(GgufFile gguf, int arrayLimit)
    {
        var info = gguf.ModelInfo;
        var sb = new StringBuilder();
        void Line(string label, string? value)
        {
            if (value is not null)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{label,-14}{value}\n");
            }
        }

        Line("file", gguf.Path);
        Line("format", $"GGUF v{gguf.Version}, {gguf.Length:N0} bytes, {gguf.Metadata.Count} keys, {gguf.Tensors.Count} tensors, alignment {gguf.Alignment}, data at byte {gguf.DataOffset}");
        Line("architecture", info.Architecture ?? "(none)");
        var support = First.Cpu.LanguageModel.CheckSupport(gguf);
        Line("runs", support.Supported ? "yes" : $"no: {support.Missing}: {support.Reason}");
        Line("name", info.Name);
        Line("layers", Num(info.BlockCount));
        Line("embedding", Num(info.EmbeddingLength));
        Line("feed-forward", Num(info.FeedForwardLength));
        if (info.HeadCount is not null)
        {
            Line("heads", $"{info.HeadCount} (kv {Num(info.HeadCountKv ?? info.HeadCount)}, head dim {Num(info.HeadDimension)})");
        }

        Line("context", Num(info.ContextLength));
        if (info.RopeFreqBase is not null || info.RopeDimensionCount is not null)
        {
            var rope = $"base {Flt(info.RopeFreqBase ?? 10000f)}, dimensions {Num(info.RopeDimensionCount ?? info.HeadDimension)}";
            if (info.RopeScalingType is not null)
            {
                rope += $", scaling {info.RopeScalingType} ×{Flt(info.RopeScalingFactor ?? 1f)}";
            }

            Line("rope", rope);
        }

        Line("rms epsilon", info.RmsEpsilon is { } eps ? Flt(eps) : null);
        if (info.TokenizerModel is not null || info.Vocabulary is not null)
        {
            var tok = new StringBuilder();
            tok.Append(CultureInfo.InvariantCulture, $"{info.Vocabulary?.ToString(CultureInfo.InvariantCulture) ?? "?"} tokens, {info.TokenizerModel ?? "no"} tokenizer");
            if (info.TokenizerPre is not null)
            {
                tok.Append(CultureInfo.InvariantCulture, $" (pre {info.TokenizerPre})");
            }

            if (info.MergeCount is { } merges)
            {
                tok.Append(CultureInfo.InvariantCulture, $", {merges} merges");
            }

            tok.Append(CultureInfo.InvariantCulture, $", bos {Num(info.BosTokenId) ?? "-"}, eos {Num(info.EosTokenId) ?? "-"}");
            if (info.HasChatTemplate)
            {
                tok.Append(", chat template");
            }

            Line("vocabulary", tok.ToString());
        }

        if (gguf.Tensors.Count > 0)
        {
            var byType = gguf.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Sum(t => t.ByteSize))
                .Select(g => $"{g.Count()} {GgmlTypes.Get(g.Key).Name}");
            Line("tensors", $"{string.Join(", ", byType)}; {Bytes(gguf.Tensors.Sum(t => t.ByteSize))} of weights, {gguf.Tensors.Sum(t => t.ElementCount):N0} parameters");
        }

        sb.Append(CultureInfo.InvariantCulture, $"\nmetadata ({gguf.Metadata.Count} keys)\n");
        var keyWidth = gguf.Metadata.Count == 0 ? 3 : gguf.Metadata.Max(kv => kv.Key.Length);
        for (var i = 0; i < gguf.Metadata.Count; i++)
        {
            var (key, value) = gguf.Metadata[i];
            var type = value.Type == GgufValueType.Array ? $"[{GgufValueTypes.Name(value.AsArray().ElementType)}]" : GgufValueTypes.Name(value.Type);
            var shown = value.Type == GgufValueType.Array
                ? $"{value.AsArray().Count} × {value.AsArray().PreviewElements(arrayLimit)}"
                : value.ToDisplayString(arrayLimit);

            sb.Append(CultureInfo.InvariantCulture, $"{i + 1,5}  {key.PadRight(keyWidth)}  {type,-10} {Clip(shown, 160)}\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"\ntensors ({gguf.Tensors.Count})\n");
        if (gguf.Tensors.Count > 0)
        {
            var nameWidth = Math.Max(4, gguf.Tensors.Max(t => t.Name.Length));
            var shapeWidth = Math.Max(5, gguf.Tensors.Max(t => t.ShapeText.Length));
            sb.Append(CultureInfo.InvariantCulture, $"{"#",5}  {"name".PadRight(nameWidth)}  {"type",-7} {"shape".PadRight(shapeWidth)} {"elements",14} {"bytes",14} {"offset",14}\n");
            foreach (var t in gguf.Tensors)
            {
                sb.Append(CultureInfo.InvariantCulture,
                    $"{t.Index + 1,5}  {t.Name.PadRight(nameWidth)}  {GgmlTypes.Get(t.Type).Name,-7} {t.ShapeText.PadRight(shapeWidth)} {t.ElementCount,14:N0} {t.ByteSize,14:N0} {"0x" + t.FileOffset.ToString("x", CultureInfo.InvariantCulture),14}\n");
            }
        }

        return sb.ToString();
    }

    public static string RenderJson(GgufFile gguf, int arrayLimit)
    {
        var info = gguf.ModelInfo;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("file", gguf.Path);
            w.WriteNumber("version", gguf.Version);
            w.WriteNumber("size", gguf.Length);
            w.WriteNumber("alignment", gguf.Alignment);
            w.WriteNumber("dataOffset", gguf.DataOffset);
            var support = First.Cpu.LanguageModel.CheckSupport(gguf);
            w.WriteStartObject("runs");
            w.WriteBoolean("supported", support.Supported);
            WriteOptional(w, "missing", support.Missing);
            WriteOptional(w, "reason", support.Reason);
            w.WriteEndObject();

            w.WriteStartObject("model");
            WriteOptional(w, "architecture", info.Architecture);
            WriteOptional(w, "name", info.Name);
            WriteOptional(w, "blockCount", info.BlockCount);
            WriteOptional(w, "embeddingLength", info.EmbeddingLength);
            WriteOptional(w, "feedForwardLength", info.FeedForwardLength);
            WriteOptional(w, "headCount", info.HeadCount);
            WriteOptional(w, "headCountKv", info.HeadCountKv);
            WriteOptional(w, "headDimension", info.HeadDimension);
            WriteOptional(w, "contextLength", info.ContextLength);
            WriteOptional(w, "ropeDimensionCount", info.RopeDimensionCount);
            WriteOptional(w, "ropeFreqBase", info.RopeFreqBase);
            WriteOptional(w, "ropeScalingType", info.RopeScalingType);
            WriteOptional(w, "ropeScalingFactor", info.RopeScalingFactor);
            WriteOptional(w, "rmsEpsilon", info.RmsEpsilon);
            WriteOptional(w, "tokenizerModel", info.TokenizerModel);
            WriteOptional(w, "tokenizerPre", info.TokenizerPre);
            WriteOptional(w, "vocabularySize", info.Vocabulary);
            WriteOptional(w, "mergeCount", info.MergeCount);
            WriteOptional(w, "bosTokenId", info.BosTokenId);
            WriteOptional(w, "eosTokenId", info.EosTokenId);
            w.WriteBoolean("hasChatTemplate", info.HasChatTemplate);
            w.WriteEndObject();

            w.WriteStartArray("metadata");
            foreach (var (key, value) in gguf.Metadata)
            {
                w.WriteStartObject();
                w.WriteString("key", key);
                w.WriteString("type", GgufValueTypes.Name(value.Type));
                if (value.Type == GgufValueType.Array)
                {
                    var array = value.AsArray();
                    w.WriteString("elementType", GgufValueTypes.Name(array.ElementType));
                    w.WriteNumber("count", array.Count);
                }

                w.WritePropertyName("value");
                WriteValue(w, value, arrayLimit);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("tensors");
            foreach (var t in gguf.Tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("type", GgmlTypes.Get(t.Type).Name);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteNumber("elements", t.ElementCount);
                w.WriteNumber("bytes", t.ByteSize);
                w.WriteNumber("offset", t.FileOffset);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteValue(Utf8JsonWriter w, GgufValue value, int arrayLimit)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                w.WriteStringValue(value.AsString());
                break;
            case GgufValueType.Bool:
                w.WriteBooleanValue(value.AsBool());
                break;
            case GgufValueType.Float32 or GgufValueType.Float64:
                var f = value.AsFloat();
                if (double.IsFinite(f))
                {
                    w.WriteNumberValue(value.Type == GgufValueType.Float32 ? (float)f : f);
                }
                else
                {
                    w.WriteStringValue(f.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case GgufValueType.Array:
                var array = value.AsArray();
                w.WriteStartArray();
                for (long i = 0; i < Math.Min(array.Count, arrayLimit); i++)
                {
                    if (array.ElementType == GgufValueType.String)
                    {
                        // Token strings may hold bytes that are not UTF-8; show them as escaped bytes.
                        var bytes = array.GetStringBytes(i);
                        w.WriteStringValue(System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Convert.ToHexString(bytes));
                    }
                    else
                    {
                        WriteValue(w, array.GetValue(i), arrayLimit);
                    }
                }

                w.WriteEndArray();
                break;
            default:
                var n = value.AsInteger();
                if (n >= long.MinValue && n <= long.MaxValue)
                {
                    w.WriteNumberValue((long)n);
                }
                else
                {
                    w.WriteNumberValue((ulong)n);
                }

                break;
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? v)
    {
        if (v is not null)
        {
            w.WriteString(name, v);
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, long? v)
    {
        if (v is not null)
        {
            w.WriteNumber(name, v.Value);
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, float? v)
    {
        if (v is { } f && float.IsFinite(f))
        {
            w.WriteNumber(name, f);
        }
    }

    private static string? Num(uint? v) => v?.ToString(CultureInfo.InvariantCulture);

    private static string Flt(float v) => v.ToString("g6", CultureInfo.InvariantCulture);

    private static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };

    private static string Clip(string s, int max) => s.Length <= max ? s : string.Concat(s.AsSpan(0, max - 1), "…");
}
