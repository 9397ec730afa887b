using First.Tests;
using System.Diagnostics;

namespace First.Gguf.Tests;

/// <summary>Opening maps the file and reads only its tables; tensor data is read by the OS when touched.</summary>
public sealed class MappingTests
{
    [Fact]
    public void Opening_a_file_with_8_GiB_of_tensor_data_reads_none_of_it()
    {
        const long tensorBytes = 8L << 30;
        var path = Path.Combine(Path.GetTempPath(), $"first-sparse-{Guid.NewGuid():N}.gguf");
        try
        {
            var header = RawGguf.Header(1, 1).KvString("general.architecture", "llama")
                .Tensor("huge.weight", GgmlType.F32, 0, 1UL << 16, (ulong)(tensorBytes / 4 >> 16)).Align().ToArray();
            using (var fs = new FileStream(path, FileMode.CreateNew))
            {
                fs.Write(header);
                fs.SetLength(header.Length + tensorBytes); // sparse: the data takes no disk and reads as zeros
            }

            var before = Process.GetCurrentProcess().WorkingSet64;
            using var file = GgufFile.Open(path);
            var t = file.GetTensor("huge.weight");
            Assert.Equal(tensorBytes, t.ByteSize);
            Assert.Equal(header.Length, t.FileOffset);
            unsafe
            {
                var p = file.GetTensorPointer(t);
                Assert.Equal(0, p[0] + p[tensorBytes - 1]); // two pages touched, nothing else
            }

            var grown = Process.GetCurrentProcess().WorkingSet64 - before;
            Assert.True(grown < (1L << 30), $"the working set grew by {grown >> 20} MiB on opening an 8 GiB file");
            Assert.Throws<InvalidOperationException>(() => file.GetTensorBytes(t)); // over a span's reach: use the pointer
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Spans_are_refused_after_dispose()
    {
        var file = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        var t = file.GetTensor("output_norm.weight");
        var tokens = file.Metadata.GetArray("tokenizer.ggml.tokens");
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.GetTensorBytes(t));
        Assert.Throws<ObjectDisposedException>(() => tokens.GetString(0));
    }

    [Fact]
    public void A_tensor_of_another_file_is_refused()
    {
        using var a = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        using var b = GgufFile.Open(TestPaths.Model("stories260K-Q8_0.gguf"));
        Assert.Throws<ArgumentException>(() => a.GetTensorBytes(b.GetTensor("output.weight")));
    }

    [Fact]
    public void Missing_file_is_an_io_error_not_a_format_error() =>
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.gguf")));
}
