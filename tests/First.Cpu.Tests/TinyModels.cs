using System.Runtime.InteropServices;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// Small random models with stories260K's shapes (64 wide, 5 layers, 8 query and 4 KV heads, 512 tokens) and
/// its tokenizer: F32 weights drawn from a seed. As <c>qwen2</c> they also get Q/K/V biases and NeoX RoPE; as <c>qwen3</c>
/// NeoX RoPE and per-head query and key norms; as <c>phi3</c> fused projections, LongRoPE factors and an attention factor;
/// as <c>gemma2</c> and <c>gemma3</c> post norms, a sliding window of 4, soft-caps (gemma2), query and key norms (gemma3).
/// </summary>
internal static class TinyModels
{
    /// <summary>Writes the model of <paramref name="seed"/> (once per process) and returns its path.</summary>
    public static string Random(int seed, string architecture = "llama")
    {
        var path = Path.Combine(Path.GetTempPath(), $"first-tiny-{architecture}-{seed}-{Environment.ProcessId}.gguf");
        if (File.Exists(path))
        {
            return path;
        }

        var random = new Random(seed);
        using var source = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        var tmp = path + ".tmp";
        using (var writer = GgufWriter.CreateFile(tmp))
        {
            foreach (var (key, value) in source.Metadata)
            {
                var name = key.StartsWith("llama.", StringComparison.Ordinal) ? architecture + key["llama".Length..] : key;
                writer.Metadata.Add(name, key == "general.architecture" ? GgufValue.FromString(architecture) : value);
            }

            var tensors = source.Tensors.Select(t => (t.Name, Shape: t.Shape.ToArray())).ToList();
            if (architecture is "gemma2" or "gemma3")
            {
                // Post norms (and gemma3's query and key norms), a window of 4 positions, soft-caps that bend (gemma2),
                // another RoPE base for the sliding layers (gemma3).
                var d = (long)source.Metadata.GetUInt32("llama.embedding_length");
                var hd = d / source.Metadata.GetUInt32("llama.attention.head_count");
                for (var l = 0; l < source.Metadata.GetUInt32("llama.block_count"); l++)
                {
                    tensors.Add(($"blk.{l}.post_attention_norm.weight", [d]));
                    tensors.Add(($"blk.{l}.post_ffw_norm.weight", [d]));
                    if (architecture == "gemma3")
                    {
                        tensors.Add(($"blk.{l}.attn_q_norm.weight", [hd]));
                        tensors.Add(($"blk.{l}.attn_k_norm.weight", [hd]));
                    }
                }

                writer.Metadata.Add($"{architecture}.attention.sliding_window", GgufValue.FromUInt32(4));
                if (architecture == "gemma2")
                {
                    writer.Metadata.Add("gemma2.attn_logit_softcapping", GgufValue.FromFloat32(5f));
                    writer.Metadata.Add("gemma2.final_logit_softcapping", GgufValue.FromFloat32(8f));
                }
                else
                {
                    writer.Metadata.Add("gemma3.rope.freq_base_swa", GgufValue.FromFloat32(100f));
                }
            }

            if (architecture == "qwen3")
            {
                var hd = source.Metadata.GetUInt32("llama.embedding_length") / source.Metadata.GetUInt32("llama.attention.head_count");
                for (var l = 0; l < source.Metadata.GetUInt32("llama.block_count"); l++)
                {
                    tensors.Add(($"blk.{l}.attn_q_norm.weight", [hd]));
                    tensors.Add(($"blk.{l}.attn_k_norm.weight", [hd]));
                }
            }

            if (architecture == "phi3")
            {
                // Fused Q/K/V and gate/up, LongRoPE factors and an attention factor (phi3.cpp).
                var d = (long)source.Metadata.GetUInt32("llama.embedding_length");
                var kv = source.GetTensor("blk.0.attn_k.weight").Shape[1];
                var ff = source.GetTensor("blk.0.ffn_up.weight").Shape[1];
                var hd = d / source.Metadata.GetUInt32("llama.attention.head_count");
                tensors.RemoveAll(t => t.Name.EndsWith("attn_q.weight", StringComparison.Ordinal) || t.Name.EndsWith("attn_k.weight", StringComparison.Ordinal)
                    || t.Name.EndsWith("attn_v.weight", StringComparison.Ordinal) || t.Name.EndsWith("ffn_gate.weight", StringComparison.Ordinal)
                    || t.Name.EndsWith("ffn_up.weight", StringComparison.Ordinal));
                for (var l = 0; l < source.Metadata.GetUInt32("llama.block_count"); l++)
                {
                    tensors.Add(($"blk.{l}.attn_qkv.weight", [d, d + (2 * kv)]));
                    tensors.Add(($"blk.{l}.ffn_up.weight", [d, 2 * ff]));
                }

                tensors.Add(("rope_factors_long.weight", [hd / 2]));
                tensors.Add(("rope_factors_short.weight", [hd / 2]));
                writer.Metadata.Add("phi3.rope.scaling.attn_factor", GgufValue.FromFloat32(1.19f));
                writer.Metadata.Add("phi3.rope.scaling.original_context_length", GgufValue.FromUInt32(64));
            }

            if (architecture == "qwen2")
            {
                var d = (long)source.Metadata.GetUInt32("llama.embedding_length");
                var kv = source.GetTensor("blk.0.attn_k.weight").Shape[1];
                for (var l = 0; l < source.Metadata.GetUInt32("llama.block_count"); l++)
                {
                    tensors.Add(($"blk.{l}.attn_q.bias", [d]));
                    tensors.Add(($"blk.{l}.attn_k.bias", [kv]));
                    tensors.Add(($"blk.{l}.attn_v.bias", [kv]));
                }
            }

            foreach (var (name, shape) in tensors)
            {
                writer.AddTensor(name, GgmlType.F32, shape);
            }

            foreach (var (name, shape) in tensors)
            {
                var count = (int)shape.Aggregate(1L, (a, b) => a * b);
                var values = new float[count];
                var isNorm = name.EndsWith("norm.weight", StringComparison.Ordinal) || name.StartsWith("rope_factors", StringComparison.Ordinal);
                var isBias = name.EndsWith(".bias", StringComparison.Ordinal);
                // Gemma multiplies its embeddings by √n_embd, so its table is drawn that much smaller (as trained ones are).
                var embedding = architecture.StartsWith("gemma", StringComparison.Ordinal) ? 1.0 / Math.Sqrt(shape[0]) : 1.0;
                var scale = isNorm ? 0.2 : isBias ? 0.1 : name == "token_embd.weight" ? embedding : 1.5 / Math.Sqrt(shape[0]);
                for (var i = 0; i < count; i++)
                {
                    values[i] = (float)((isNorm ? 1 : 0) + (scale * Gaussian(random)));
                }

                writer.WriteTensorData(MemoryMarshal.AsBytes(values.AsSpan()));
            }

            writer.Finish();
        }

        File.Move(tmp, path, overwrite: true);
        return path;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
