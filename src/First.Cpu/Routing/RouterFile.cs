using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using First.Cpu.Model;
using First.Gguf;

namespace First.Cpu.Routing;

/// <summary>A router file was made for another model, or is malformed.</summary>
public sealed class RouterFileException(string message) : Exception(message);

/// <summary>
/// Router files (shared/FIRST.md): GGUF, tensors <c>router.{i}.w1</c> [d, d_r], <c>.b1</c> [d_r], <c>.w2</c> [d_r],
/// <c>.b2</c> [1] (a linear router: w1 [d, 1], b2), metadata <c>first.router.*</c> naming the base model
/// (architecture, layer count, embedding size, a fingerprint of its tensor names and shapes and one of its tensor types),
/// tau, d_r and the
/// routed layers. With adapters (the LoRA stage), also <c>lora.{l}.attn_output.a</c> [query length, r],
/// <c>.attn_output.b</c> [d, r], <c>lora.{l}.ffn_down.a</c> [ffn, r], <c>.ffn_down.b</c> [d, r] (ggml order: the first
/// dimension is contiguous) for every layer and
/// <c>first.router.lora.rank</c> / <c>.alpha</c>. Written to a temporary name and renamed, so a killed write leaves
/// nothing half-written.
/// </summary>
public static class RouterFile
{
    private const string Prefix = "first.router.";

    /// <summary>SHA-256 over the base model's tensor table (names, types, shapes), as hex: one quantization of one model.</summary>
    public static string Fingerprint(GgufFile model) => Hash(model, withTypes: true);

    /// <summary>
    /// SHA-256 over the base model's tensor names and shapes in name order, as hex: the model, whatever its quantization
    /// (llama-quantize also reorders the tensor table). Routers trained on an F16 or Q8_0 file apply to the same model's
    /// Q4_K_M or Q4_0 file.
    /// </summary>
    public static string ModelFingerprint(GgufFile model) => Hash(model, withTypes: false);

    private static string Hash(GgufFile model, bool withTypes)
    {
        ArgumentNullException.ThrowIfNull(model);
        var sb = new StringBuilder();
        foreach (var t in withTypes ? (IEnumerable<GgufTensorInfo>)model.Tensors : model.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            if (withTypes)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{t.Name}:{(uint)t.Type}:{t.ShapeText};");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"{t.Name}:{t.ShapeText};");
            }
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <summary>Writes <paramref name="routers"/> for <paramref name="model"/>: to a temporary name, renamed when complete.</summary>
    public static void Write(string path, RouterSet routers, LanguageModel model, float tau, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var tmp = path + ".tmp";
        WriteFile(tmp, routers, model, tau, settings);
        File.Move(tmp, path, overwrite: true);
    }

    private static void WriteFile(string path, RouterSet routers, LanguageModel model, float tau, IReadOnlyDictionary<string, string>? settings)
    {
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(model);
        using var w = GgufWriter.CreateFile(path);
        var m = w.Metadata;
        m.Add("general.architecture", GgufValue.FromString("first-router"));
        m.Add(Prefix + "base.architecture", GgufValue.FromString(model.Config.ArchitectureName));
        m.Add(Prefix + "base.layer_count", GgufValue.FromUInt32((uint)model.Config.LayerCount));
        m.Add(Prefix + "base.embedding_length", GgufValue.FromUInt32((uint)model.Config.EmbeddingLength));
        m.Add(Prefix + "base.fingerprint", GgufValue.FromString(Fingerprint(model.File)));
        m.Add(Prefix + "base.model_fingerprint", GgufValue.FromString(ModelFingerprint(model.File)));
        m.Add(Prefix + "tau", GgufValue.FromFloat32(tau));
        m.Add(Prefix + "hidden", GgufValue.FromUInt32((uint)routers.Hidden));
        m.Add(Prefix + "routed_layers", GgufValue.FromArray(GgufArray.From([.. routers.RoutedLayers])));
        foreach (var (k, v) in settings ?? new Dictionary<string, string>())
        {
            m.Add(Prefix + "training." + k, GgufValue.FromString(v));
        }

        var d = routers.Embedding;
        var h = Math.Max(routers.Hidden, 1);
        foreach (var l in routers.RoutedLayers)
        {
            w.AddTensor($"router.{l}.w1", GgmlType.F32, d, h);
            w.AddTensor($"router.{l}.b1", GgmlType.F32, h);
            w.AddTensor($"router.{l}.w2", GgmlType.F32, h);
            w.AddTensor($"router.{l}.b2", GgmlType.F32, 1);
        }

        var adapters = routers.Adapters;
        if (adapters is not null)
        {
            m.Add(Prefix + "lora.rank", GgufValue.FromUInt32((uint)adapters.Rank));
            m.Add(Prefix + "lora.alpha", GgufValue.FromFloat32(adapters.Alpha));
            var r = adapters.Rank;
            for (var l = 0; l < adapters.LayerCount; l++)
            {
                // Every adapter tensor is [rank][width] row-major: ggml shape [width, rank].
                var tensors = adapters.Layers[l].Tensors;
                for (var k = 0; k < tensors.Count; k++)
                {
                    w.AddTensor($"lora.{l}.{LayerAdapter.TensorNames[k]}", GgmlType.F32, tensors[k].Length / r, r);
                }
            }
        }

        foreach (var l in routers.RoutedLayers)
        {
            var r = routers.Routers[l]!;
            w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.W1.AsSpan()));
            w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.B1.AsSpan()));
            w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.W2.AsSpan()));
            w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new[] { r.B2 }.AsSpan()));
        }

        foreach (var t in adapters?.Tensors ?? [])
        {
            w.WriteTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.AsSpan()));
        }

        w.Finish();
    }

    /// <summary>Reads a router file and checks that it belongs to <paramref name="model"/>.</summary>
    /// <exception cref="RouterFileException">It was made for another model; the message names what differs.</exception>
    /// <exception cref="GgufFormatException">It is malformed or truncated.</exception>
    public static (RouterSet Routers, float Tau) Read(string path, LanguageModel model) => Read(path, model, notices: null);

    /// <summary>
    /// As <see cref="Read(string, LanguageModel)"/>; a file trained on another quantization of the same model (same tensor
    /// names and shapes, other types) loads, and one line saying so goes to <paramref name="notices"/>.
    /// </summary>
    public static (RouterSet Routers, float Tau) Read(string path, LanguageModel model, TextWriter? notices)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var file = GgufFile.Open(path);
        var m = file.Metadata;
        if (m.GetStringOrNull("general.architecture") != "first-router")
        {
            throw new RouterFileException($"{path} is not a router file (general.architecture is '{m.GetStringOrNull("general.architecture")}')");
        }

        void Same(string what, string theirs, string ours)
        {
            if (theirs != ours)
            {
                throw new RouterFileException($"router file {path} was made for another model: {what} {theirs}, this model has {ours}");
            }
        }

        var c = model.Config;
        Same("architecture", m.GetString(Prefix + "base.architecture"), c.ArchitectureName);
        Same("layer count", m.GetUInt32(Prefix + "base.layer_count").ToString(CultureInfo.InvariantCulture), c.LayerCount.ToString(CultureInfo.InvariantCulture));
        Same("embedding size", m.GetUInt32(Prefix + "base.embedding_length").ToString(CultureInfo.InvariantCulture), c.EmbeddingLength.ToString(CultureInfo.InvariantCulture));
        var typed = m.GetString(Prefix + "base.fingerprint") == Fingerprint(model.File);
        if (m.GetStringOrNull(Prefix + "base.model_fingerprint") is { } modelPrint)
        {
            Same("fingerprint of tensor names and shapes", modelPrint, ModelFingerprint(model.File));
            if (!typed)
            {
                notices?.WriteLine($"routers {Path.GetFileName(path)} were trained on another quantization of this model; using them");
            }
        }
        else if (!typed)
        {
            // Files written before the model fingerprint name one quantization only.
            Same("tensor-table fingerprint", m.GetString(Prefix + "base.fingerprint"), Fingerprint(model.File));
        }
        var hidden = checked((int)m.GetUInt32(Prefix + "hidden"));
        var routed = m.GetArray(Prefix + "routed_layers").AsSpan<int>().ToArray();
        var routers = new RouterSet(c.LayerCount, c.EmbeddingLength, hidden, routed);
        var h = Math.Max(hidden, 1);
        foreach (var l in routed)
        {
            var r = routers.Routers[l]!;
            Load(file, $"router.{l}.w1", r.W1, c.EmbeddingLength * h);
            Load(file, $"router.{l}.b1", r.B1, h);
            Load(file, $"router.{l}.w2", r.W2, h);
            var b2 = new float[1];
            Load(file, $"router.{l}.b2", b2, 1);
            r.B2 = b2[0];
        }

        if (m.ContainsKey(Prefix + "lora.rank"))
        {
            var rank = checked((int)m.GetUInt32(Prefix + "lora.rank"));
            var alpha = m.GetFloat32(Prefix + "lora.alpha");
            if (rank < 1 || rank > 4096 || !(alpha > 0) || !float.IsFinite(alpha))
            {
                throw new RouterFileException($"router file {path}: adapter rank {rank} or alpha {alpha} is out of range");
            }

            var adapters = new AdapterSet(c.LayerCount, c.EmbeddingLength, c.QueryLength, c.FeedForwardLength, rank, alpha);
            for (var l = 0; l < c.LayerCount; l++)
            {
                var tensors = adapters.Layers[l].Tensors;
                for (var k = 0; k < tensors.Count; k++)
                {
                    Load(file, $"lora.{l}.{LayerAdapter.TensorNames[k]}", tensors[k], tensors[k].Length);
                }
            }

            routers.Adapters = adapters;
        }

        return (routers, m.GetFloat32(Prefix + "tau"));
    }

    private static void Load(GgufFile file, string name, float[] into, int count)
    {
        var t = file.GetTensor(name);
        if (t.Type != GgmlType.F32 || t.ElementCount != count)
        {
            throw new GgufFormatException($"expected {count} f32 values, found {t.ElementCount} of {GgmlTypes.NameOf((uint)t.Type)}", tensor: name);
        }

        file.GetTensorData<float>(t).CopyTo(into);
    }
}
