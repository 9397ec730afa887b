using First.Tests;
using System.Runtime.InteropServices;
using First.Gguf.Tests.Reference;

namespace First.Gguf.Tests;

/// <summary>Our type table and our reader against llama.cpp's own ggml library.</summary>
public sealed unsafe class ReferenceParityTests
{
    /// <summary>GGML_TYPE_COUNT of the pinned reference; ggml_type_name does not check bounds, so we may not ask past it.</summary>
    private const int ReferenceTypeCount = 43;

    public static TheoryData<string> SharedFiles() => [.. TestPaths.AllSharedGgufFiles().Select(f => Path.GetFileName(f))];

    [Fact]
    public void Type_table_matches_ggml_for_every_type_id()
    {
        var ggml = GgmlReference.Require();
        for (var id = 0; id < ReferenceTypeCount; id++)
        {
            var name = Marshal.PtrToStringUTF8((nint)ggml.TypeName(id));
            var blockSize = ggml.BlockSize(id);
            var known = GgmlTypes.TryGet((uint)id, out var ours);
            if (blockSize == 0)
            {
                Assert.False(known, $"type id {id} ({name}) is removed in ggml but in our table");
                continue;
            }

            Assert.True(known, $"type id {id} ({name}) is missing from our table");
            Assert.Equal(name, ours.Name);
            Assert.Equal(blockSize, ours.BlockSize);
            Assert.Equal((long)ggml.TypeSize(id), ours.BytesPerBlock);
        }

        Assert.All(GgmlTypes.All, t => Assert.True((int)t.Type < ReferenceTypeCount, $"{t.Name} is not a type of the reference ggml"));
    }

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Every_shared_file_reads_as_ggml_reads_it(string fileName)
    {
        var ggml = GgmlReference.Require();
        var path = Path.Combine(TestPaths.Shared, fileName.Contains("vocab", StringComparison.Ordinal) ? "vocab" : "models", fileName);
        var expected = ggml.Parse(path);
        Assert.NotNull(expected);
        using var file = GgufFile.Open(path);
        ReferenceAssert.SameAsGgml(expected, file);
    }
}
