namespace First.Gguf.Tests;

/// <summary>
/// One test per kind of damage the reader must refuse: each gives a <see cref="GgufFormatException"/>
/// that names the key or tensor and the byte offset, never a crash.
/// </summary>
public sealed class MalformedInputTests
{
    private const ulong Huge = 1UL << 60;

    [Fact]
    public void Bad_magic()
    {
        var e = Refused(new RawGguf().Bytes("GGUX"u8).U32(3).U64(0).U64(0).ToArray(), "bad magic 'GGUX'");
        Assert.Equal(0, e.Offset);
    }

    [Fact]
    public void Legacy_ggjt_file_is_named_as_such() =>
        Refused(new RawGguf().Bytes("tjgg"u8).U32(3).U64(0).U64(0).ToArray(), "legacy GGML/GGJT");

    [Theory]
    [InlineData(1u, "version 1 is not supported")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "big-endian GGUF (version 3)")]
    public void Unsupported_versions(uint version, string message)
    {
        var e = Refused(RawGguf.Header(0, 0, version).ToArray(), message);
        Assert.Equal(4, e.Offset);
    }

    [Fact]
    public void Empty_file_on_disk()
    {
        var path = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
            Assert.Contains("empty", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Truncation_at_every_byte_before_the_last_tensor_ends()
    {
        var bytes = WriterTests.SmallFileWithEveryValueType(out var dataEnd);
        using (GgufFile.FromBytes(bytes))
        {
            // the whole file is valid
        }

        for (var length = 0; length < dataEnd; length++)
        {
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes.AsSpan(0, length)).Dispose());
            Assert.True(e.Offset <= length, $"prefix {length}: error offset {e.Offset} is past the end");
        }
    }

    [Fact]
    public void Key_length_past_the_end() =>
        Refused(RawGguf.Header(0, 1).U64(1000).Bytes("abc"u8).Zeros(16).ToArray(), "key length 1000 runs past the end");

    [Fact]
    public void String_value_length_past_the_end()
    {
        var bytes = RawGguf.Header(0, 1).Str("general.name").U32((uint)GgufValueType.String).U64(Huge).ToArray();
        var e = Refused(bytes, "string length", key: "general.name");
        Assert.Equal(RawGguf.Header(0, 1).Str("general.name").U32(8).Length, e.Offset);
    }

    [Fact]
    public void String_in_array_past_the_end()
    {
        var bytes = RawGguf.Header(0, 1).Str("tokenizer.ggml.tokens").U32((uint)GgufValueType.Array)
            .U32((uint)GgufValueType.String).U64(2).Str("a").U64(5000).Bytes("b"u8).ToArray();
        Refused(bytes, "string 1 of the array has length 5000", key: "tokenizer.ggml.tokens");
    }

    [Fact]
    public void Array_length_past_the_end()
    {
        var bytes = RawGguf.Header(0, 1).Str("tokenizer.ggml.scores").U32((uint)GgufValueType.Array)
            .U32((uint)GgufValueType.Float32).U64(1000).Zeros(16).ToArray();
        Refused(bytes, "array of 1000 FLOAT32 cannot fit", key: "tokenizer.ggml.scores");
    }

    [Fact]
    public void Absurd_tensor_count() =>
        Refused(RawGguf.Header(Huge, 0).Zeros(64).ToArray(), $"tensor count {Huge} is impossible");

    [Fact]
    public void Absurd_metadata_count() =>
        Refused(RawGguf.Header(0, Huge).Zeros(64).ToArray(), $"metadata count {Huge} is impossible");

    [Fact]
    public void Absurd_array_count_of_strings()
    {
        var bytes = RawGguf.Header(0, 1).Str("k").U32((uint)GgufValueType.Array).U32((uint)GgufValueType.String).U64(Huge).Zeros(64).ToArray();
        Refused(bytes, "cannot fit", key: "k");
    }

    [Fact]
    public void Arrays_nested_too_deep()
    {
        var raw = RawGguf.Header(0, 1).Str("nest").U32((uint)GgufValueType.Array);
        for (var i = 0; i < GgufParser.MaxArrayDepth + 1; i++)
        {
            raw.U32((uint)GgufValueType.Array).U64(1);
        }

        raw.U32((uint)GgufValueType.UInt8).U64(0);
        Refused(raw.ToArray(), "nested deeper", key: "nest");
    }

    [Fact]
    public void Unknown_value_type() =>
        Refused(RawGguf.Header(0, 1).Str("k").U32(13).U32(0).ToArray(), "unknown value type 13", key: "k");

    [Fact]
    public void Unknown_array_element_type() =>
        Refused(RawGguf.Header(0, 1).Str("k").U32((uint)GgufValueType.Array).U32(99).U64(0).ToArray(), "unknown array element type 99", key: "k");

    [Fact]
    public void Duplicate_key()
    {
        var bytes = RawGguf.Header(0, 2).KvU32("llama.block_count", 5).KvU32("llama.block_count", 6).ToArray();
        var e = Refused(bytes, "duplicate metadata key", key: "llama.block_count");
        Assert.Equal(RawGguf.Header(0, 2).KvU32("llama.block_count", 5).Length, e.Offset);
    }

    [Fact]
    public void Invalid_utf8_in_key() =>
        Refused(RawGguf.Header(0, 1).StrBytes([0x61, 0xFF, 0x62]).U32(4).U32(1).ToArray(), "key is not valid UTF-8");

    [Fact]
    public void Empty_key() =>
        Refused(RawGguf.Header(0, 1).Str(string.Empty).U32(4).U32(1).ToArray(), "empty key");

    [Fact]
    public void Invalid_utf8_in_string_value() =>
        Refused(RawGguf.Header(0, 1).Str("general.name").U32(8).StrBytes([0xC3, 0x28]).ToArray(), "not valid UTF-8", key: "general.name");

    [Fact]
    public void Invalid_utf8_in_a_string_array_element_is_refused_when_read()
    {
        var bytes = RawGguf.Header(0, 1).Str("tokenizer.ggml.tokens").U32((uint)GgufValueType.Array)
            .U32((uint)GgufValueType.String).U64(2).Str("ok").StrBytes([0xE2, 0x82]).ToArray();
        using var file = GgufFile.FromBytes(bytes);
        var tokens = file.Metadata.GetArray("tokenizer.ggml.tokens");
        Assert.Equal("ok", tokens.GetString(0));
        Assert.Equal([0xE2, 0x82], tokens.GetStringBytes(1).ToArray()); // raw bytes stay available to a tokenizer
        var e = Assert.Throws<GgufFormatException>(() => tokens.GetString(1));
        Assert.Contains("not valid UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0u, "is not a power of two")]
    [InlineData(24u, "is not a power of two")]
    public void Alignment_must_be_a_power_of_two(uint alignment, string message) =>
        Refused(RawGguf.Header(0, 1).KvU32(GgufFile.AlignmentKey, alignment).ToArray(), message, key: GgufFile.AlignmentKey);

    [Fact]
    public void Alignment_must_be_uint32() =>
        Refused(RawGguf.Header(0, 1).KvString(GgufFile.AlignmentKey, "32").ToArray(), "must be UINT32", key: GgufFile.AlignmentKey);

    [Fact]
    public void Unknown_tensor_type() =>
        Refused(OneTensor(t => t.Tensor("w", (GgmlType)99, 0, 32)), "unknown or removed ggml type id 99", tensor: "w");

    [Fact]
    public void Removed_tensor_type() =>
        Refused(OneTensor(t => t.Tensor("w", (GgmlType)31, 0, 32)), "unknown or removed ggml type id 31", tensor: "w");

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void Dimension_count_out_of_range(int nDims) =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 0, [.. Enumerable.Repeat(1UL, nDims)])), $"has {nDims} dimensions", tensor: "w");

    [Fact]
    public void Negative_dimension() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 0, 4, ulong.MaxValue)), "negative", tensor: "w");

    [Fact]
    public void Dimensions_whose_product_overflows() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 0, 1UL << 32, 1UL << 32)), "overflows int64", tensor: "w");

    [Fact]
    public void Byte_size_that_overflows() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F64, 0, 1UL << 31, 1UL << 31)), "overflows int64", tensor: "w");

    [Fact]
    public void Row_not_a_whole_number_of_blocks() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.Q4_0, 0, 48, 2)), "not a multiple of the q4_0 block size 32", tensor: "w");

    [Fact]
    public void Tensor_data_outside_the_file()
    {
        var e = Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 64, 8)), "lies outside the data section", tensor: "w");
        Assert.True(e.Offset > 24);
    }

    [Fact]
    public void Tensor_data_larger_than_the_file() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 0, 1UL << 40)), "lies outside the data section", tensor: "w");

    [Fact]
    public void Misaligned_tensor_offset() =>
        Refused(OneTensor(t => t.Tensor("w", GgmlType.F32, 4, 4)), "not a multiple of the alignment 32", tensor: "w");

    [Fact]
    public void Overlapping_tensors()
    {
        var raw = RawGguf.Header(2, 0).Tensor("a", GgmlType.F32, 0, 16).Tensor("b", GgmlType.F32, 32, 16).Align().Zeros(128);
        Refused(raw.ToArray(), "overlaps tensor 'a'", tensor: "b");
    }

    [Fact]
    public void Duplicate_tensor_names()
    {
        var raw = RawGguf.Header(2, 0).Tensor("a", GgmlType.F32, 0, 8).Tensor("a", GgmlType.F32, 32, 8).Align().Zeros(64);
        Refused(raw.ToArray(), "duplicate tensor name", tensor: "a");
    }

    [Fact]
    public void Tensor_name_too_long_for_ggml()
    {
        var name = new string('x', 64);
        Refused(OneTensor(t => t.Tensor(name, GgmlType.F32, 0, 8)), "longer than 63 bytes", tensor: name);
    }

    [Fact]
    public void Data_section_past_the_end()
    {
        // A tensor table that ends 8 bytes short of the next 32-byte boundary, with nothing after it.
        var raw = RawGguf.Header(1, 0).Tensor("w", GgmlType.F32, 0, 0);
        Assert.NotEqual(0, raw.Length % 32);
        Refused(raw.ToArray(), "data section would start");
    }

    [Fact]
    public void Wrong_type_for_a_typed_getter_names_the_key()
    {
        using var file = GgufFile.FromBytes(RawGguf.Header(0, 2).KvString("general.architecture", "llama").KvString("llama.block_count", "five").ToArray());
        var e = Assert.Throws<GgufFormatException>(() => file.ModelInfo);
        Assert.Equal("llama.block_count", e.Key);
        Assert.Equal(RawGguf.Header(0, 1).KvString("general.architecture", "llama").Length, e.Offset);
    }

    [Fact]
    public void Out_of_range_integer_for_a_typed_getter_names_the_key()
    {
        var bytes = RawGguf.Header(0, 1).Str("llama.block_count").U32((uint)GgufValueType.Int64).U64(ulong.MaxValue).ToArray();
        using var file = GgufFile.FromBytes(bytes);
        var e = Assert.Throws<GgufFormatException>(() => file.Metadata.GetUInt32("llama.block_count"));
        Assert.Contains("-1 does not fit in uint32", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_key_and_missing_tensor_are_named()
    {
        using var file = GgufFile.FromBytes(RawGguf.Header(0, 0).ToArray());
        Assert.Equal("llama.block_count", Assert.Throws<GgufFormatException>(() => file.Metadata.GetUInt32("llama.block_count")).Key);
        Assert.Equal("output.weight", Assert.Throws<GgufFormatException>(() => file.GetTensor("output.weight")).Tensor);
    }

    private static byte[] OneTensor(Func<RawGguf, RawGguf> entry) => entry(RawGguf.Header(1, 0)).Align().Zeros(64).ToArray();

    private static GgufFormatException Refused(byte[] bytes, string message, string? key = null, string? tensor = null)
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes).Dispose());
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(key, e.Key);
        Assert.Equal(tensor, e.Tensor);
        Assert.InRange(e.Offset, 0, bytes.Length);
        return e;
    }
}
