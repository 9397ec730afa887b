using First.Cpu.Model;
using First.Cpu.Sampling;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>Decoding (forward pass, sampling, piece lookup) allocates nothing per token once warm.</summary>
[Collection(nameof(IsolatedCollection))]
public sealed class DecodeAllocationTests
{
    [Theory]
    [InlineData("stories260K.gguf", KvCacheType.F16, 0f)]
    [InlineData("stories260K-Q4_0.gguf", KvCacheType.F32, 0.8f)]
    [InlineData("stories260K-Q8_0.gguf", KvCacheType.F16, 0.8f)]
    public void Sixty_four_decode_steps_allocate_nothing(string file, KvCacheType cache, float temperature)
    {
        using var model = LanguageModel.Open(TestPaths.Model(file));
        using var session = model.CreateSession(new SessionOptions { Threads = 2, ContextLength = 256, KvCacheType = cache });
        var sampler = new Sampler(model.Config.VocabularySize, new SamplerOptions { Temperature = temperature, Seed = 7, RepeatPenalty = 1.1f });
        var token = model.Tokenizer.Vocabulary.Bos;
        session.Prefill([token]);
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
        var before = GC.GetAllocatedBytesForCurrentThread();
        var beforeAll = GC.GetTotalAllocatedBytes(precise: true);
        Steps(64);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var allocatedAll = GC.GetTotalAllocatedBytes(precise: true) - beforeAll;
        Assert.Equal(129, session.Position);
        Assert.True(bytes > 0);
        Assert.Equal(0, allocated);
        Assert.Equal(0, allocatedAll);
    }
}
