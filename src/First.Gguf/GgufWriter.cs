using System.Buffers.Binary;
using System.Text;

namespace First.Gguf;

/// <summary>
/// Writes a GGUF v3 (or v2) file that llama.cpp loads: metadata of every type, a tensor table with
/// aligned offsets, then tensor data streamed one tensor at a time in declaration order.
/// <para>Use: fill <see cref="Metadata"/>, declare tensors with <see cref="AddTensor"/>, then call
/// <see cref="WriteTensorData"/> once per tensor in that order and <see cref="Finish"/>. The header is
/// written at the first data write (or at Finish), so nothing can be added after that.</para>
/// <para><see cref="CreateFile"/> writes to a temporary file beside the target and renames it only at
/// Finish, so a crash or an exception never leaves a half-written file under the target name.</para>
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _out;
    private readonly bool _leaveOpen;
    private readonly List<Declared> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly string? _tempPath;
    private readonly string? _finalPath;
    private readonly byte[] _scratch = new byte[16];
    private long _written;
    private int _nextTensor = -1; // -1: header not written yet
    private uint _alignment;
    private bool _finished;
    private bool _disposed;

    /// <summary>A writer onto a stream positioned where the file starts.</summary>
    public GgufWriter(Stream output, uint version = 3, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (version is not (2 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "GGUF versions 2 and 3 can be written");
        }

        _out = output;
        _leaveOpen = leaveOpen;
        Version = version;
    }

    private GgufWriter(Stream output, string tempPath, string finalPath, uint version)
        : this(output, version)
    {
        _tempPath = tempPath;
        _finalPath = finalPath;
    }

    /// <summary>GGUF version written.</summary>
    public uint Version { get; }

    /// <summary>The metadata to write, in this order. <c>general.alignment</c> (UINT32, a power of two) sets the data alignment.</summary>
    public GgufMetadata Metadata { get; } = new();

    /// <summary>
    /// A writer onto a temporary file in the folder of <paramref name="path"/>; <see cref="Finish"/>
    /// renames it to <paramref name="path"/>, disposing without Finish deletes it.
    /// </summary>
    public static GgufWriter CreateFile(string path, uint version = 3)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        return new GgufWriter(stream, temp, full, version);
    }

    /// <summary>Declares the next tensor. Shape in ggml order (row length first).</summary>
    public void AddTensor(string name, GgmlType type, params ReadOnlySpan<long> shape)
    {
        ThrowIfHeaderWritten();
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (s_strictUtf8.GetByteCount(name) > GgufParser.MaxTensorNameBytes)
        {
            throw new ArgumentException($"tensor name '{name}' is longer than {GgufParser.MaxTensorNameBytes} bytes", nameof(name));
        }

        if (shape.Length is 0 or > GgufParser.MaxDims)
        {
            throw new ArgumentException($"tensor '{name}' has {shape.Length} dimensions (1 to {GgufParser.MaxDims} allowed)", nameof(shape));
        }

        var info = GgmlTypes.Get(type);
        long elements = 1;
        foreach (var d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            elements = checked(elements * d);
        }

        var rowBytes = info.RowBytes(shape[0]);
        if (rowBytes < 0)
        {
            throw new ArgumentException($"tensor '{name}': row length {shape[0]} is not a multiple of the {info.Name} block size {info.BlockSize}", nameof(shape));
        }

        if (!_names.Add(name))
        {
            throw new ArgumentException($"duplicate tensor name '{name}'", nameof(name));
        }

        var rows = shape[0] == 0 ? 0 : elements / shape[0];
        _tensors.Add(new Declared(name, type, shape.ToArray(), checked(rows * rowBytes)));
    }

    /// <summary>Writes the data of the next declared tensor; its length must be the tensor's byte size.</summary>
    public void WriteTensorData(ReadOnlySpan<byte> data)
    {
        var t = NextTensor();
        if (data.Length != t.ByteSize)
        {
            throw new ArgumentException($"tensor '{t.Name}' takes {t.ByteSize} bytes, {data.Length} were given", nameof(data));
        }

        WriteTensorChunk(data);
        EndTensorData();
    }

    /// <summary>Writes the data of the next tensor in pieces: call with consecutive chunks that add up to its size, then <see cref="EndTensorData"/>.</summary>
    public void WriteTensorChunk(ReadOnlySpan<byte> chunk)
    {
        var t = NextTensor();
        if (t.Streamed + chunk.Length > t.ByteSize)
        {
            throw new ArgumentException($"tensor '{t.Name}' takes {t.ByteSize} bytes; the chunks exceed that", nameof(chunk));
        }

        Put(chunk);
        t.Streamed += chunk.Length;
    }

    /// <summary>Closes the tensor whose data was written with <see cref="WriteTensorChunk"/>.</summary>
    public void EndTensorData()
    {
        var t = NextTensor();
        if (t.Streamed != t.ByteSize)
        {
            throw new InvalidOperationException($"tensor '{t.Name}' takes {t.ByteSize} bytes, {t.Streamed} were written");
        }

        Pad();
        _nextTensor++;
    }

    /// <summary>Completes the file: checks every tensor was written, flushes, and (for <see cref="CreateFile"/>) renames it into place.</summary>
    public void Finish()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureHeader();
        if (_nextTensor != _tensors.Count)
        {
            throw new InvalidOperationException($"{_tensors.Count - _nextTensor} declared tensors have no data yet, starting with '{_tensors[_nextTensor].Name}'");
        }

        _out.Flush();
        if (_out is FileStream fs)
        {
            fs.Flush(flushToDisk: true);
        }

        _finished = true;
        if (_tempPath is not null)
        {
            _out.Dispose();
            File.Move(_tempPath, _finalPath!, overwrite: true);
        }
    }

    /// <summary>Closes the stream; an unfinished <see cref="CreateFile"/> writer deletes its temporary file.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_leaveOpen)
        {
            _out.Dispose();
        }

        if (_tempPath is not null && !_finished)
        {
            try
            {
                File.Delete(_tempPath);
            }
            catch (IOException)
            {
                // The temporary name is unique to this writer; a leftover is harmless.
            }
        }
    }

    /// <summary>The tensor whose data comes next (writing the header first if need be).</summary>
    private Declared NextTensor()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureHeader();
        return _nextTensor < _tensors.Count
            ? _tensors[_nextTensor]
            : throw new InvalidOperationException($"all {_tensors.Count} declared tensors have been written");
    }

    private void EnsureHeader()
    {
        if (_nextTensor >= 0)
        {
            return;
        }

        _alignment = GgufFile.DefaultAlignment;
        if (Metadata.TryGetValue(GgufFile.AlignmentKey, out var a))
        {
            _alignment = a.Type == GgufValueType.UInt32 && a.RawBits != 0 && (a.RawBits & (a.RawBits - 1)) == 0
                ? (uint)a.RawBits
                : throw new InvalidOperationException($"{GgufFile.AlignmentKey} must be a UINT32 power of two");
        }

        PutU32(GgufFile.Magic);
        PutU32(Version);
        PutU64((ulong)_tensors.Count);
        PutU64((ulong)Metadata.Count);
        foreach (var (key, value) in Metadata)
        {
            PutString(key);
            PutU32((uint)value.Type);
            PutValue(value);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            PutString(t.Name);
            PutU32((uint)t.Shape.Length);
            foreach (var d in t.Shape)
            {
                PutU64((ulong)d);
            }

            PutU32((uint)t.Type);
            PutU64((ulong)offset);
            offset = GgufFile.AlignUp(offset + t.ByteSize, _alignment);
        }

        // The data section starts aligned; a file without tensors (a vocabulary) ends here, unpadded, as
        // the vocabulary files llama.cpp's converter writes do.
        if (_tensors.Count > 0)
        {
            Pad();
        }

        _nextTensor = 0;
    }

    private void PutValue(GgufValue value)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                PutString(value.AsString());
                break;
            case GgufValueType.Array:
                PutArray(value.AsArray());
                break;
            default:
                PutScalar(value.Type, value.RawBits);
                break;
        }
    }

    private void PutArray(GgufArray array)
    {
        PutU32((uint)array.ElementType);
        PutU64((ulong)array.Count);
        switch (array.ElementType)
        {
            case GgufValueType.String:
                for (long i = 0; i < array.Count; i++)
                {
                    var bytes = array.GetStringBytes(i);
                    PutU64((ulong)bytes.Length);
                    Put(bytes);
                }

                break;
            case GgufValueType.Array:
                for (long i = 0; i < array.Count; i++)
                {
                    PutArray(array.GetArray(i));
                }

                break;
            case GgufValueType.Bool:
                for (long i = 0; i < array.Count; i++)
                {
                    PutScalar(GgufValueType.Bool, array.GetBool(i) ? 1UL : 0UL);
                }

                break;
            default:
                Put(array.RawFixedBytes());
                break;
        }
    }

    private void PutScalar(GgufValueType type, ulong bits)
    {
        var size = GgufValueTypes.SizeOf(type);
        BinaryPrimitives.WriteUInt64LittleEndian(_scratch, bits);
        Put(_scratch.AsSpan(0, size));
    }

    private void PutString(string s)
    {
        byte[] bytes;
        try
        {
            bytes = s_strictUtf8.GetBytes(s);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"string is not valid Unicode: {e.Message}", nameof(s), e);
        }

        PutU64((ulong)bytes.Length);
        Put(bytes);
    }

    private void PutU32(uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_scratch, v);
        Put(_scratch.AsSpan(0, 4));
    }

    private void PutU64(ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_scratch, v);
        Put(_scratch.AsSpan(0, 8));
    }

    private void Pad()
    {
        var padding = (int)(GgufFile.AlignUp(_written, _alignment) - _written);
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (padding > 0)
        {
            var n = Math.Min(padding, zeros.Length);
            Put(zeros[..n]);
            padding -= n;
        }
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        _out.Write(bytes);
        _written += bytes.Length;
    }

    private void ThrowIfHeaderWritten()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_nextTensor >= 0)
        {
            throw new InvalidOperationException("the header has been written; no tensor can be added");
        }
    }

    private sealed class Declared(string name, GgmlType type, long[] shape, long byteSize)
    {
        public string Name { get; } = name;

        public GgmlType Type { get; } = type;

        public long[] Shape { get; } = shape;

        public long ByteSize { get; } = byteSize;

        public long Streamed { get; set; }
    }
}
