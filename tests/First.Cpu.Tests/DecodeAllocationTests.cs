using First.Cpu.Model;
using First.Cpu.Sampling;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Decoding (forward pass, sampling, piece lookup) allocates nothing per token once warm.</summary>
[Collection(nameof(IsolatedCollection))]
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed class DecodeAllocationTests
{
    [Theory]
    [InlineData("stories260K.gguf", KvCacheType.F16, 0f, false, 0)]
    [InlineData("stories260K-Q4_0.gguf", KvCacheType.F32, 0.8f, false, 0)]
    [InlineData("stories260K-Q8_0.gguf", KvCacheType.F16, 0.8f, false, 0)]
    [InlineData("stories260K-Q8_0.gguf", KvCacheType.F16, 0.8f, true, 0)]
    [InlineData("synth:tinyllama-1.1b:q4_0", KvCacheType.F16, 0.8f, false, 0)] // heads of 64: the 512-bit attention paths
    [InlineData("synth:tinyllama-1.1b:q4_0", KvCacheType.F16, 0.8f, false, 300)] // past 256 cells: llama.cpp's split-KV decode
    public void Sixty_four_decode_steps_allocate_nothing(string file, KvCacheType cache, float temperature, bool skipWithAdapters, int depth)
    {
        var path = file.Split(':') is ["synth", var preset, var type] ? SynthParityTests.Synth(preset, type, layers: 2) : TestPaths.Model(file);
        using var model = LanguageModel.Open(path);
        using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 320 + depth, KvCacheType = cache });
        if (skipWithAdapters)
        {
            // FiRST decoding: a skipped layer, LoRA adapters on the others.
            session.DecodePlan = LayerPlan.Skipping(model.Config.LayerCount, [2]);
            session.Adapters = AdapterTests.RandomAdapters(model.Config, rank: 8, seed: 1, size: 0.05f);
        }

        var sampler = new Sampler(model.Config.VocabularySize, new SamplerOptions { Temperature = temperature, Seed = 7, RepeatPenalty = 1.1f });
        var token = model.Tokenizer.Vocabulary.Bos;
        var random = new Random(depth);
        session.Prefill([token, .. Enumerable.Range(0, depth).Select(_ => random.Next(model.Config.VocabularySize))]);
        var bytes = 0;

        void Steps(int count)
        {
            for (var i = 0; i < count; i++)
            {
                token = sampler.Sample(session.Logits);
                sampler.Accept(token);
                bytes += model.Tokenizer.Piece(token).Length;
                session.Decode(token);
            }
        }

        Steps(64); // warm-up: tiered JIT, first use of every path

        // A per-token allocation shows in every window. Tiered compilation can still be finishing a method when
        // the first window starts (seen once under qemu on a loaded machine: 24 bytes in one window), so up to
        // three windows of 64 tokens are measured and one of them must allocate nothing on any thread.
        var windows = new List<(long Thread, long All)>(3);
        for (var w = 0; w < 3; w++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var beforeAll = GC.GetTotalAllocatedBytes(precise: true);
            Steps(64);
            windows.Add((GC.GetAllocatedBytesForCurrentThread() - before, GC.GetTotalAllocatedBytes(precise: true) - beforeAll));
            if (windows[^1] == (0, 0))
            {
                break;
            }
        }

        Assert.True(bytes > 0);
        Assert.True(windows[^1] == (0, 0), $"every 64-token window allocated: {string.Join(", ", windows.Select(x => $"{x.Thread} bytes on this thread, {x.All} on all"))}");
    }
}
