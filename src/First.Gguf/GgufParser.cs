using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace First.Gguf;

/// <summary>
/// Parses the header, metadata and tensor table of a GGUF image (layout: ggml/docs/gguf.md).
/// Every read is bounds-checked against the image; every count is checked against the bytes left
/// before anything is allocated for it, so time and memory stay proportional to the file size.
/// </summary>
internal unsafe ref struct GgufParser
{
    /// <summary>Deepest nesting of arrays in arrays that is accepted (the format sets none; the stack does).</summary>
    public const int MaxArrayDepth = 16;

    /// <summary>ggml keeps tensor names in a 64-byte field with a terminating NUL (GGML_MAX_NAME).</summary>
    public const int MaxTensorNameBytes = 63;

    /// <summary>ggml tensors have at most four dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDims = 4;

    private readonly MemoryRegion _region;
    private readonly byte* _base;
    private readonly long _length;
    private long _pos;

    private GgufParser(MemoryRegion region)
    {
        _region = region;
        _base = region.Pointer;
        _length = region.Length;
        _pos = 0;
    }

    private readonly long Remaining => _length - _pos;

    public static Result Parse(MemoryRegion region)
    {
        var p = new GgufParser(region);
        return p.ParseAll();
    }

    private Result ParseAll()
    {
        // Header: magic u32, version u32, tensor_count u64, metadata_kv_count u64 (u32 counts in v1).
        var magic = ReadU32("the magic number");
        if (magic != GgufFile.Magic)
        {
            throw new GgufFormatException(DescribeBadMagic(magic), 0);
        }

        var versionAt = _pos;
        var version = ReadU32("the version");
        if (version is not (2 or 3))
        {
            var swapped = BinaryPrimitives.ReverseEndianness(version);
            throw new GgufFormatException(
                swapped is 2 or 3 ? $"big-endian GGUF (version {swapped}) is not supported"
                : version == 1 ? "GGUF version 1 is not supported (only versions 2 and 3)"
                : $"unsupported GGUF version {version} (only versions 2 and 3)",
                versionAt);
        }

        var tensorCountAt = _pos;
        var tensorCount = ReadU64("the tensor count");
        var kvCountAt = _pos;
        var kvCount = ReadU64("the metadata count");

        // Each entry takes a minimum number of bytes, so a count the rest of the file cannot hold is refused up front.
        const long minKvBytes = 8 + 4 + 1;             // key length, value type, a one-byte value
        const long minTensorBytes = 8 + 4 + 8 + 4 + 8; // name length, n_dims, one dim, type, offset
        if (kvCount > (ulong)(Remaining / minKvBytes))
        {
            throw new GgufFormatException($"metadata count {kvCount} is impossible: only {Remaining} bytes follow the header", kvCountAt);
        }

        if (tensorCount > (ulong)((Remaining - ((long)kvCount * minKvBytes)) / minTensorBytes))
        {
            throw new GgufFormatException($"tensor count {tensorCount} is impossible: only {Remaining} bytes follow the header", tensorCountAt);
        }

        var metadata = new GgufMetadata();
        for (ulong i = 0; i < kvCount; i++)
        {
            var entryAt = _pos;
            var key = ReadString(null, isKey: true);
            if (metadata.ContainsKey(key))
            {
                throw new GgufFormatException("duplicate metadata key", entryAt, key);
            }

            var typeAt = _pos;
            var type = (GgufValueType)ReadU32("the value type", key);
            if (!GgufValueTypes.IsDefined(type))
            {
                throw new GgufFormatException($"unknown value type {(uint)type}", typeAt, key);
            }

            metadata.AddFromFile(key, ReadValue(type, key, 0), entryAt);
        }

        var alignment = GgufFile.DefaultAlignment;
        if (metadata.TryGetValue(GgufFile.AlignmentKey, out var alignValue))
        {
            var at = metadata.OffsetOf(GgufFile.AlignmentKey);
            if (alignValue.Type != GgufValueType.UInt32)
            {
                throw new GgufFormatException($"must be UINT32, is {GgufValueTypes.Name(alignValue.Type)}", at, GgufFile.AlignmentKey);
            }

            alignment = (uint)alignValue.RawBits;
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            {
                throw new GgufFormatException($"alignment {alignment} is not a power of two", at, GgufFile.AlignmentKey);
            }
        }

        if (tensorCount > int.MaxValue)
        {
            throw new GgufFormatException($"tensor count {tensorCount} is over the supported {int.MaxValue}", tensorCountAt);
        }

        var entries = new TensorEntry[(int)tensorCount];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = ReadTensorInfo(names);
        }

        // The data section starts at the next multiple of the alignment. A file with no tensors
        // (a vocabulary-only file) may end before it.
        var dataOffset = GgufFile.AlignUp(_pos, alignment);
        if (tensorCount > 0 && dataOffset > _length)
        {
            throw new GgufFormatException($"the tensor data section would start at byte {dataOffset}, past the end of the file ({_length} bytes)", _pos);
        }

        var resolved = ResolveData(entries, dataOffset, alignment);
        return new Result(version, metadata, resolved, alignment, dataOffset);
    }

    private TensorEntry ReadTensorInfo(HashSet<string> names)
    {
        var entryAt = _pos;
        var name = ReadString(null, isKey: true, what: "tensor name");
        if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameBytes)
        {
            throw new GgufFormatException($"tensor name is longer than {MaxTensorNameBytes} bytes", entryAt, tensor: name);
        }

        if (!names.Add(name))
        {
            throw new GgufFormatException("duplicate tensor name", entryAt, tensor: name);
        }

        var dimsAt = _pos;
        var nDims = ReadU32("the number of dimensions", tensor: name);
        if (nDims is 0 or > MaxDims)
        {
            throw new GgufFormatException($"has {nDims} dimensions (1 to {MaxDims} allowed)", dimsAt, tensor: name);
        }

        var shape = new long[nDims];
        long elements = 1;
        for (var d = 0; d < nDims; d++)
        {
            var at = _pos;
            var dim = ReadU64("a dimension", tensor: name);
            if (dim > long.MaxValue)
            {
                throw new GgufFormatException($"dimension {d} is {dim}, which is negative as the int64 ggml uses", at, tensor: name);
            }

            shape[d] = (long)dim;
            if (shape[d] != 0 && elements > long.MaxValue / shape[d])
            {
                throw new GgufFormatException($"the element count of shape [{string.Join(", ", shape.Take(d + 1))}] overflows int64", at, tensor: name);
            }

            elements *= shape[d];
        }

        var typeAt = _pos;
        var typeId = ReadU32("the tensor type", tensor: name);
        if (!GgmlTypes.TryGet(typeId, out var typeInfo))
        {
            throw new GgufFormatException($"unknown or removed ggml type id {typeId}", typeAt, tensor: name);
        }

        if (shape[0] % typeInfo.BlockSize != 0)
        {
            throw new GgufFormatException(
                $"row length {shape[0]} is not a multiple of the {typeInfo.Name} block size {typeInfo.BlockSize}", dimsAt, tensor: name);
        }

        // Bytes = rows × bytes per row; the element count did not overflow, but bytes can (8-byte types).
        var rowBytes = typeInfo.RowBytes(shape[0]);
        var rows = shape[0] == 0 ? 0 : elements / shape[0];
        if (rowBytes < 0 || (rows != 0 && rowBytes > long.MaxValue / rows))
        {
            throw new GgufFormatException("the byte size of the tensor overflows int64", dimsAt, tensor: name);
        }

        var offsetFieldAt = _pos;
        var offset = ReadU64("the tensor data offset", tensor: name);
        if (offset > long.MaxValue)
        {
            throw new GgufFormatException($"data offset {offset} is out of range", offsetFieldAt, tensor: name);
        }

        return new TensorEntry(name, typeInfo.Type, shape, elements, rows * rowBytes, (long)offset, offsetFieldAt);
    }

    private readonly List<GgufTensorInfo> ResolveData(TensorEntry[] entries, long dataOffset, uint alignment)
    {
        var resolved = new List<GgufTensorInfo>(entries.Length);
        var dataBytes = _length - dataOffset;
        for (var i = 0; i < entries.Length; i++)
        {
            var t = entries[i];
            if (t.RelativeOffset % alignment != 0)
            {
                throw new GgufFormatException($"data offset {t.RelativeOffset} is not a multiple of the alignment {alignment}", t.OffsetFieldAt, tensor: t.Name);
            }

            if (t.ByteSize > dataBytes || t.RelativeOffset > dataBytes - t.ByteSize)
            {
                throw new GgufFormatException(
                    $"data [{t.RelativeOffset}, +{t.ByteSize}) lies outside the data section ({dataBytes} bytes from byte {dataOffset})", t.OffsetFieldAt, tensor: t.Name);
            }

            resolved.Add(new GgufTensorInfo(i, t.Name, t.Type, t.Shape, t.ElementCount, t.ByteSize, t.RelativeOffset, dataOffset + t.RelativeOffset));
        }

        // No two tensors may share bytes.
        var byOffset = resolved.OrderBy(t => t.RelativeOffset).ThenBy(t => t.Index).ToArray();
        for (var i = 1; i < byOffset.Length; i++)
        {
            var prev = byOffset[i - 1];
            var cur = byOffset[i];
            if (prev.ByteSize > 0 && cur.ByteSize > 0 && prev.RelativeOffset + prev.ByteSize > cur.RelativeOffset)
            {
                throw new GgufFormatException(
                    $"data [{cur.RelativeOffset}, +{cur.ByteSize}) overlaps tensor '{prev.Name}' [{prev.RelativeOffset}, +{prev.ByteSize})",
                    entries[cur.Index].OffsetFieldAt, tensor: cur.Name);
            }
        }

        return resolved;
    }

    private GgufValue ReadValue(GgufValueType type, string key, int depth)
    {
        switch (type)
        {
            case GgufValueType.String:
                return GgufValue.FromString(ReadString(key, isKey: false));
            case GgufValueType.Array:
                return GgufValue.FromArray(ReadArray(key, depth + 1));
            default:
                var size = GgufValueTypes.SizeOf(type);
                Need(size, "a value", key);
                var p = _base + _pos;
                ulong bits = size switch
                {
                    1 => *p,
                    2 => GgufFile.Read<ushort>(p),
                    4 => GgufFile.Read<uint>(p),
                    _ => GgufFile.Read<ulong>(p),
                };
                _pos += size;
                return GgufValue.FromRawBits(type, bits);
        }
    }

    private GgufArray ReadArray(string key, int depth)
    {
        var headerAt = _pos;
        if (depth > MaxArrayDepth)
        {
            throw new GgufFormatException($"arrays are nested deeper than {MaxArrayDepth} levels", headerAt, key);
        }

        var elementType = (GgufValueType)ReadU32("the array element type", key);
        if (!GgufValueTypes.IsDefined(elementType))
        {
            throw new GgufFormatException($"unknown array element type {(uint)elementType}", headerAt, key);
        }

        var countAt = _pos;
        var count = ReadU64("the array length", key);
        var minSize = GgufValueTypes.MinEncodedSize(elementType);
        if (count > (ulong)(Remaining / minSize))
        {
            throw new GgufFormatException(
                $"array of {count} {GgufValueTypes.Name(elementType)} cannot fit in the {Remaining} bytes left", countAt, key);
        }

        var start = _base + _pos;
        var startPos = _pos;
        long[]? offsets = null;
        GgufArray[]? children = null;
        switch (elementType)
        {
            case GgufValueType.String:
                offsets = new long[count];
                for (long i = 0; i < (long)count; i++)
                {
                    offsets[i] = _pos - startPos;
                    var at = _pos;
                    var length = ReadU64("a string length", key);
                    if (length > (ulong)Remaining)
                    {
                        throw new GgufFormatException($"string {i} of the array has length {length}, past the end of the file", at, key);
                    }

                    if (length > int.MaxValue)
                    {
                        throw new GgufFormatException($"string {i} of the array has length {length}, over 2 GiB", at, key);
                    }

                    _pos += (long)length;
                }

                break;
            case GgufValueType.Array:
                children = new GgufArray[count];
                for (long i = 0; i < (long)count; i++)
                {
                    children[i] = ReadArray(key, depth + 1);
                }

                break;
            default:
                _pos += (long)count * minSize; // fits: checked above
                break;
        }

        return new GgufArray(elementType, (long)count, _region, start, _pos - startPos, offsets, children);
    }

    private string ReadString(string? key, bool isKey, string what = "key")
    {
        var at = _pos;
        var length = ReadU64(isKey ? $"the length of a {what}" : "a string length", key);
        if (length > (ulong)Remaining)
        {
            throw new GgufFormatException(
                $"{(isKey ? what : "string")} length {length} runs past the end of the file ({Remaining} bytes left)", at, key);
        }

        if (length > int.MaxValue)
        {
            throw new GgufFormatException($"{(isKey ? what : "string")} length {length} is over 2 GiB", at, key);
        }

        var bytes = new ReadOnlySpan<byte>(_base + _pos, (int)length);
        if (!Utf8.IsValid(bytes))
        {
            throw new GgufFormatException($"{(isKey ? what : "string value")} is not valid UTF-8", at, key);
        }

        if (isKey && length == 0)
        {
            throw new GgufFormatException($"empty {what}", at, key);
        }

        _pos += (long)length;
        return Encoding.UTF8.GetString(bytes);
    }

    private uint ReadU32(string what, string? key = null, string? tensor = null)
    {
        Need(4, what, key, tensor);
        var v = GgufFile.Read<uint>(_base + _pos);
        _pos += 4;
        return v;
    }

    private ulong ReadU64(string what, string? key = null, string? tensor = null)
    {
        Need(8, what, key, tensor);
        var v = GgufFile.Read<ulong>(_base + _pos);
        _pos += 8;
        return v;
    }

    private readonly void Need(long bytes, string what, string? key = null, string? tensor = null)
    {
        if (Remaining < bytes)
        {
            throw new GgufFormatException($"the file ends ({_length} bytes) in the middle of {what}", _pos, key, tensor);
        }
    }

    private static string DescribeBadMagic(uint magic)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, magic);
        var text = string.Concat(b.ToArray().Select(c => c is >= 0x20 and < 0x7f ? ((char)c).ToString() : $"\\x{c:x2}"));
        var legacy = text is "lmgg" or "fmgg" or "tjgg" ? " (a legacy GGML/GGJT file: convert it to GGUF)" : string.Empty;
        return $"bad magic '{text}', expected 'GGUF'{legacy}";
    }

    private readonly record struct TensorEntry(string Name, GgmlType Type, long[] Shape, long ElementCount, long ByteSize, long RelativeOffset, long OffsetFieldAt);

    internal readonly record struct Result(uint Version, GgufMetadata Metadata, IReadOnlyList<GgufTensorInfo> Tensors, uint Alignment, long DataOffset);
}
