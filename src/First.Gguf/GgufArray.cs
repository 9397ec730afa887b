using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace First.Gguf;

/// <summary>
/// A GGUF metadata array. One read from a file points into the file's memory (numbers are handed out
/// as spans, strings are decoded only when asked); one built in code holds a managed array.
/// </summary>
public sealed unsafe class GgufArray
{
    // File-backed form: the element bytes start at _data; for strings, _offsets[i] is the offset
    // of element i's u64 length prefix relative to _data; nested arrays are parsed eagerly.
    private readonly MemoryRegion? _region;
    private readonly byte* _data;
    private readonly long[]? _offsets;
    private readonly GgufArray[]? _children;

    // Managed form.
    private readonly Array? _managed;

    private GgufArray(GgufValueType elementType, long count, Array managed)
    {
        ElementType = elementType;
        Count = count;
        _managed = managed;
    }

    internal GgufArray(GgufValueType elementType, long count, MemoryRegion region, byte* data, long byteLength, long[]? stringOffsets, GgufArray[]? children)
    {
        ElementType = elementType;
        Count = count;
        _region = region;
        _data = data;
        ByteLength = byteLength;
        _offsets = stringOffsets;
        _children = children;
    }

    /// <summary>The type of every element.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The number of elements.</summary>
    public long Count { get; }

    /// <summary>Bytes the elements take in the file (0 for an array built in code).</summary>
    public long ByteLength { get; }

#pragma warning disable CS1591 // the factories say what they do
    public static GgufArray From(byte[] values) => new(GgufValueType.UInt8, values.Length, values);
    public static GgufArray From(sbyte[] values) => new(GgufValueType.Int8, values.Length, values);
    public static GgufArray From(ushort[] values) => new(GgufValueType.UInt16, values.Length, values);
    public static GgufArray From(short[] values) => new(GgufValueType.Int16, values.Length, values);
    public static GgufArray From(uint[] values) => new(GgufValueType.UInt32, values.Length, values);
    public static GgufArray From(int[] values) => new(GgufValueType.Int32, values.Length, values);
    public static GgufArray From(ulong[] values) => new(GgufValueType.UInt64, values.Length, values);
    public static GgufArray From(long[] values) => new(GgufValueType.Int64, values.Length, values);
    public static GgufArray From(float[] values) => new(GgufValueType.Float32, values.Length, values);
    public static GgufArray From(double[] values) => new(GgufValueType.Float64, values.Length, values);
    public static GgufArray From(bool[] values) => new(GgufValueType.Bool, values.Length, values);
    public static GgufArray From(string[] values) => new(GgufValueType.String, values.Length, values);
    public static GgufArray From(GgufArray[] values) => new(GgufValueType.Array, values.Length, values);
#pragma warning restore CS1591

    /// <summary>
    /// The elements of a fixed-size numeric array as a span (into the file for a file-backed array).
    /// <typeparamref name="T"/> must be the element type's .NET twin (uint for UINT32, float for FLOAT32, ...).
    /// </summary>
    public ReadOnlySpan<T> AsSpan<T>()
        where T : unmanaged
    {
        if (ElementTypeOf<T>() != ElementType || ElementType == GgufValueType.Bool)
        {
            throw new InvalidCastException($"an array of {GgufValueTypes.Name(ElementType)} cannot be read as {typeof(T).Name}");
        }

        if (_managed is not null)
        {
            return ((T[])_managed).AsSpan();
        }

        _region!.ThrowIfDisposed();
        return Count > int.MaxValue
            ? throw new InvalidOperationException($"the array has {Count} elements, more than a span can hold")
            : new ReadOnlySpan<T>(_data, (int)Count);
    }

    /// <summary>Element <paramref name="index"/> of a BOOL array.</summary>
    public bool GetBool(long index)
    {
        CheckIndex(index, GgufValueType.Bool);
        return _managed is not null ? ((bool[])_managed)[index] : Data()[index] != 0;
    }

    /// <summary>The UTF-8 bytes of element <paramref name="index"/> of a STRING array, without decoding them.</summary>
    public ReadOnlySpan<byte> GetStringBytes(long index)
    {
        CheckIndex(index, GgufValueType.String);
        if (_managed is not null)
        {
            return Encoding.UTF8.GetBytes(((string[])_managed)[index]);
        }

        var at = Data() + _offsets![index];
        var length = Unsafe.ReadUnaligned<ulong>(at);
        return new ReadOnlySpan<byte>(at + 8, (int)length); // lengths were checked against the file at parse
    }

    /// <summary>Element <paramref name="index"/> of a STRING array, decoded; invalid UTF-8 throws <see cref="GgufFormatException"/>.</summary>
    public string GetString(long index)
    {
        if (_managed is not null)
        {
            CheckIndex(index, GgufValueType.String);
            return ((string[])_managed)[index];
        }

        var bytes = GetStringBytes(index);
        return Utf8.IsValid(bytes)
            ? Encoding.UTF8.GetString(bytes)
            : throw new GgufFormatException($"string {index} of the array is not valid UTF-8", _region!.OffsetOf(Data() + _offsets![index]));
    }

    /// <summary>Element <paramref name="index"/> of an ARRAY array.</summary>
    public GgufArray GetArray(long index)
    {
        CheckIndex(index, GgufValueType.Array);
        return _managed is not null ? ((GgufArray[])_managed)[index] : _children![index];
    }

    /// <summary>Element <paramref name="index"/> as a <see cref="GgufValue"/>, whatever the element type.</summary>
    public GgufValue GetValue(long index)
    {
        switch (ElementType)
        {
            case GgufValueType.String: return GgufValue.FromString(GetString(index));
            case GgufValueType.Array: return GgufValue.FromArray(GetArray(index));
            case GgufValueType.Bool: return GgufValue.FromBool(GetBool(index));
        }

        CheckIndex(index, ElementType);
        if (_managed is not null)
        {
            return _managed switch
            {
                byte[] a => GgufValue.FromUInt8(a[index]),
                sbyte[] a => GgufValue.FromInt8(a[index]),
                ushort[] a => GgufValue.FromUInt16(a[index]),
                short[] a => GgufValue.FromInt16(a[index]),
                uint[] a => GgufValue.FromUInt32(a[index]),
                int[] a => GgufValue.FromInt32(a[index]),
                ulong[] a => GgufValue.FromUInt64(a[index]),
                long[] a => GgufValue.FromInt64(a[index]),
                float[] a => GgufValue.FromFloat32(a[index]),
                double[] a => GgufValue.FromFloat64(a[index]),
                _ => throw new InvalidOperationException("unreachable"),
            };
        }

        var size = GgufValueTypes.SizeOf(ElementType);
        var p = Data() + (index * size);
        var bits = size switch
        {
            1 => *p,
            2 => Unsafe.ReadUnaligned<ushort>(p),
            4 => Unsafe.ReadUnaligned<uint>(p),
            _ => Unsafe.ReadUnaligned<ulong>(p),
        };
        return GgufValue.FromRawBits(ElementType, bits);
    }

    /// <summary>The raw element bytes of a fixed-size array (for copying it to another file).</summary>
    internal ReadOnlySpan<byte> RawFixedBytes()
    {
        if (_managed is not null)
        {
            // bool[] is one byte per element in .NET as in GGUF; the others are plain little-endian numbers.
            var bytes = MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(
                ref MemoryMarshal.GetArrayDataReference(_managed), checked((int)Count * GgufValueTypes.SizeOf(ElementType))));
            return bytes;
        }

        return new ReadOnlySpan<byte>(Data(), checked((int)ByteLength));
    }

    /// <summary>Structural equality, element by element (floats by bits).</summary>
    public bool ContentEquals(GgufArray other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ElementType != other.ElementType || Count != other.Count)
        {
            return false;
        }

        switch (ElementType)
        {
            case GgufValueType.String:
                for (long i = 0; i < Count; i++)
                {
                    if (!GetStringBytes(i).SequenceEqual(other.GetStringBytes(i)))
                    {
                        return false;
                    }
                }

                return true;
            case GgufValueType.Array:
                for (long i = 0; i < Count; i++)
                {
                    if (!GetArray(i).ContentEquals(other.GetArray(i)))
                    {
                        return false;
                    }
                }

                return true;
            case GgufValueType.Bool:
                for (long i = 0; i < Count; i++)
                {
                    if (GetBool(i) != other.GetBool(i))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return RawFixedBytes().SequenceEqual(other.RawFixedBytes());
        }
    }

    /// <summary>Like gguf-dump: <c>[STRING × 512] "a", "b", …</c>.</summary>
    public string ToDisplayString(int limit = 8) =>
        $"[{GgufValueTypes.Name(ElementType)} × {Count}]" + (limit > 0 && Count > 0 ? " " + PreviewElements(limit) : string.Empty);

    /// <summary>The first <paramref name="limit"/> elements, comma-separated, with "…" when there are more.</summary>
    public string PreviewElements(int limit)
    {
        var sb = new StringBuilder();
        var shown = Math.Min(Count, Math.Max(limit, 0));
        for (long i = 0; i < shown; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            try
            {
                sb.Append(GetValue(i).ToDisplayString(limit));
            }
            catch (GgufFormatException)
            {
                sb.Append("<not UTF-8: ").Append(Convert.ToHexString(GetStringBytes(i))).Append('>');
            }
        }

        if (shown < Count)
        {
            sb.Append(shown > 0 ? ", …" : "…");
        }

        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => ToDisplayString();

    private static GgufValueType ElementTypeOf<T>()
    {
        if (typeof(T) == typeof(byte)) return GgufValueType.UInt8;
        if (typeof(T) == typeof(sbyte)) return GgufValueType.Int8;
        if (typeof(T) == typeof(ushort)) return GgufValueType.UInt16;
        if (typeof(T) == typeof(short)) return GgufValueType.Int16;
        if (typeof(T) == typeof(uint)) return GgufValueType.UInt32;
        if (typeof(T) == typeof(int)) return GgufValueType.Int32;
        if (typeof(T) == typeof(ulong)) return GgufValueType.UInt64;
        if (typeof(T) == typeof(long)) return GgufValueType.Int64;
        if (typeof(T) == typeof(float)) return GgufValueType.Float32;
        if (typeof(T) == typeof(double)) return GgufValueType.Float64;
        return (GgufValueType)uint.MaxValue;
    }

    private byte* Data()
    {
        _region!.ThrowIfDisposed();
        return _data;
    }

    private void CheckIndex(long index, GgufValueType expected)
    {
        if (ElementType != expected)
        {
            throw new InvalidCastException($"the array holds {GgufValueTypes.Name(ElementType)}, not {GgufValueTypes.Name(expected)}");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
    }
}
