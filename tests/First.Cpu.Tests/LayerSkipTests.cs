using First.Cpu.Model;
using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>A skipped layer is not read, writes no KV and gives its cache back; decoding with a plan allocates nothing.</summary>
[Collection(nameof(IsolatedCollection))]
public sealed class LayerSkipTests
{
    [Fact]
    public void A_skipped_layer_is_never_read()
    {
        // stories260K with every weight of layer 2 replaced by NaN: any read of it poisons the logits.
        var path = Path.Combine(Path.GetTempPath(), $"first-nan-layer-{Environment.ProcessId}.gguf");
        try
        {
            using (var source = GgufFile.Open(TestPaths.Model("stories260K.gguf")))
            using (var writer = GgufWriter.CreateFile(path))
            {
                foreach (var (key, value) in source.Metadata)
                {
                    writer.Metadata.Add(key, value);
                }

                foreach (var t in source.Tensors)
                {
                    writer.AddTensor(t.Name, t.Type, [.. t.Shape]);
                }

                foreach (var t in source.Tensors)
                {
                    var bytes = source.GetTensorBytes(t).ToArray();
                    if (t.Name.StartsWith("blk.2.", StringComparison.Ordinal))
                    {
                        Assert.Equal(GgmlType.F32, t.Type);
                        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).Fill(float.NaN);
                    }

                    writer.WriteTensorData(bytes);
                }

                writer.Finish();
            }

            using var model = LanguageModel.Open(path);
            var prompt = model.Tokenizer.Encode("Once upon a time");
            using var dense = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64 });
            Assert.Contains(dense.Prefill(prompt).ToArray(), float.IsNaN);

            using var skipping = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 64 });
            skipping.PrefillPlan = skipping.DecodePlan = LayerPlan.Skipping(5, [2]);
            var logits = skipping.Prefill(prompt).ToArray();
            skipping.ReleaseSkippedLayers();
            Assert.False(skipping.Cache.HasLayer(2));
            Assert.Equal(4 * 2 * skipping.Cache.LayerBytes, skipping.Cache.AllocatedBytes);
            for (var i = 0; i < 16; i++)
            {
                logits = skipping.Decode(Sampling.Sampler.ArgMax(logits)).ToArray();
                Assert.DoesNotContain(logits, float.IsNaN);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Decoding_with_a_skip_plan_equals_evaluating_the_same_tokens_in_one_batch_with_that_plan()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K-Q8_0.gguf"));
        int[] tokens = [1, 403, 407, 261, 378, 11, 350, 297, 263, 2070 % model.Config.VocabularySize];
        var plan = LayerPlan.Skipping(5, [1, 3]);
        using var batch = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 32, KvCacheType = KvCacheType.F32 });
        batch.PrefillPlan = plan;
        var all = new float[tokens.Length * model.Config.VocabularySize];
        batch.EvaluateAll(tokens, all);
        using var steps = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 32, KvCacheType = KvCacheType.F32 });
        steps.PrefillPlan = steps.DecodePlan = plan;
        for (var t = 0; t < tokens.Length; t++)
        {
            var logits = steps.Decode(tokens[t]).ToArray();
            var expected = all.AsSpan(t * model.Config.VocabularySize, model.Config.VocabularySize).ToArray();
            for (var i = 0; i < logits.Length; i++)
            {
                Assert.True(Math.Abs(logits[i] - expected[i]) <= 1e-3f, $"position {t}, token {i}: {logits[i]} vs {expected[i]}");
            }
        }
    }

    [Fact]
    public void Decoding_with_skipped_layers_allocates_nothing()
    {
        using var model = LanguageModel.Open(TestPaths.Model("stories260K-Q4_0.gguf"));
        using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 256 });
        session.DecodePlan = LayerPlan.Skipping(5, [1, 2]);
        var logits = session.Prefill([1]);
        session.ReleaseSkippedLayers();
        var token = Sampling.Sampler.ArgMax(logits);
        for (var i = 0; i < 64; i++)
        {
            token = Sampling.Sampler.ArgMax(session.Decode(token));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 64; i++)
        {
            token = Sampling.Sampler.ArgMax(session.Decode(token));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
