using System.Buffers.Binary;
using System.Text;

namespace First.Gguf.Tests;

/// <summary>
/// Builds GGUF bytes field by field, independently of <see cref="GgufWriter"/>, so tests can write
/// exactly the malformed files they need (layout: ggml/docs/gguf.md).
/// </summary>
internal sealed class RawGguf
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public static RawGguf Header(ulong tensors, ulong kvs, uint version = 3) =>
        new RawGguf().Bytes("GGUF"u8).U32(version).U64(tensors).U64(kvs);

    public RawGguf Bytes(ReadOnlySpan<byte> b)
    {
        foreach (var x in b)
        {
            _bytes.Add(x);
        }

        return this;
    }

    public RawGguf U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Bytes(b);
    }

    public RawGguf U64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Bytes(b);
    }

    public RawGguf Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));

    public RawGguf StrBytes(byte[] b) => U64((ulong)b.Length).Bytes(b);

    public RawGguf KvU32(string key, uint v) => Str(key).U32((uint)GgufValueType.UInt32).U32(v);

    public RawGguf KvString(string key, string v) => Str(key).U32((uint)GgufValueType.String).Str(v);

    /// <summary>A tensor-table entry.</summary>
    public RawGguf Tensor(string name, GgmlType type, ulong offset, params ulong[] dims)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims)
        {
            U64(d);
        }

        return U32((uint)type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGguf Align(int alignment = 32)
    {
        while (_bytes.Count % alignment != 0)
        {
            _bytes.Add(0);
        }

        return this;
    }

    public RawGguf Zeros(int n)
    {
        _bytes.AddRange(new byte[n]);
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
