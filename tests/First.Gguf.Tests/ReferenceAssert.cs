using First.Gguf.Tests.Reference;

namespace First.Gguf.Tests;

/// <summary>Asserts that our reading of a file is ggml's reading of it, key by key and tensor by tensor.</summary>
internal static class ReferenceAssert
{
    public static void SameAsGgml(ReferenceGguf expected, GgufFile actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Alignment, actual.Alignment);
        Assert.Equal(expected.Kvs.Select(k => k.Key), actual.Metadata.Keys);
        foreach (var kv in expected.Kvs)
        {
            var ours = actual.Metadata[kv.Key];
            Assert.True(kv.Type == ours.Type, $"{kv.Key}: ggml says {kv.Type}, we say {ours.Type}");
            switch (kv.Value)
            {
                case string s:
                    Assert.Equal(s, UpToNul(ours.AsString())); // ggml hands strings out NUL-terminated
                    break;
                case byte[] raw:
                    Assert.True(ScalarBytes(ours).AsSpan().SequenceEqual(raw), $"{kv.Key}: value differs");
                    break;
                case ReferenceArray array:
                    var ourArray = ours.AsArray();
                    Assert.Equal(array.ElementType, ourArray.ElementType);
                    Assert.Equal(array.Count, ourArray.Count);
                    if (array.Items is string[] strings)
                    {
                        for (long i = 0; i < strings.Length; i++)
                        {
                            // ggml hands strings out NUL-terminated: compare up to the first NUL.
                            var bytes = ourArray.GetStringBytes(i);
                            var nul = bytes.IndexOf((byte)0);
                            var expectedBytes = System.Text.Encoding.UTF8.GetBytes(strings[i]);
                            Assert.True(bytes[..(nul < 0 ? bytes.Length : nul)].SequenceEqual(expectedBytes), $"{kv.Key}[{i}] differs");
                        }
                    }
                    else if (array.Items is byte[] raw)
                    {
                        Assert.True(ourArray.RawFixedBytes().SequenceEqual(raw), $"{kv.Key}: elements differ");
                    }

                    break;
            }
        }

        Assert.Equal(expected.Tensors.Count, actual.Tensors.Count);
        if (expected.Tensors.Count > 0)
        {
            Assert.Equal(expected.DataOffset, actual.DataOffset);
        }

        for (var i = 0; i < expected.Tensors.Count; i++)
        {
            var e = expected.Tensors[i];
            var a = actual.Tensors[i];
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Type, (int)a.Type);
            Assert.Equal(e.Offset, a.RelativeOffset);
            Assert.Equal(e.Size, a.ByteSize);
        }
    }

    private static string UpToNul(string s) => s.IndexOf('\0', StringComparison.Ordinal) is var i and >= 0 ? s[..i] : s;

    private static byte[] ScalarBytes(GgufValue v)
    {
        var bytes = BitConverter.GetBytes(v.RawBits);
        return bytes[..GgufValueTypes.SizeOf(v.Type)];
    }
}
