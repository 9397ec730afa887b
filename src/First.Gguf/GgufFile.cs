using System.Runtime.CompilerServices;

namespace First.Gguf;

/// <summary>
/// An open GGUF file. Opening maps the file and parses only the header, metadata and tensor table;
/// tensor data is handed out as spans and pointers into the map, never copied. Every count, length,
/// offset and size is checked against the file before use, so a malformed file gives a
/// <see cref="GgufFormatException"/>, never an access violation. Disposing unmaps: spans handed out
/// before must not be used after.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>The alignment of tensor data when the file does not set <c>general.alignment</c>.</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>The key that sets the alignment of tensor data.</summary>
    public const string AlignmentKey = "general.alignment";

    private readonly MemoryRegion _region;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    private GgufFile(MemoryRegion region, string? path)
    {
        _region = region;
        Path = path;
        var parsed = GgufParser.Parse(region);
        Version = parsed.Version;
        Metadata = parsed.Metadata;
        Tensors = parsed.Tensors;
        Alignment = parsed.Alignment;
        DataOffset = parsed.DataOffset;
        _tensorsByName = parsed.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The path the file was opened from, or null for one parsed from memory.</summary>
    public string? Path { get; }

    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long Length => _region.Length;

    /// <summary>The key/value metadata, in file order.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>The tensor table, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Alignment of tensor data in bytes.</summary>
    public uint Alignment { get; }

    /// <summary>Absolute offset of the tensor data section.</summary>
    public long DataOffset { get; }

    /// <summary><c>general.architecture</c>, or null when absent.</summary>
    public string? Architecture => Metadata.GetStringOrNull("general.architecture");

    /// <summary>The hyperparameters and tokenizer facts the metadata states.</summary>
    public GgufModelInfo ModelInfo => GgufModelInfo.FromMetadata(Metadata);

    /// <summary>Maps and parses a file.</summary>
    /// <exception cref="GgufFormatException">The file is not a valid GGUF file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var region = new MappedFileRegion(path);
        try
        {
            return new GgufFile(region, System.IO.Path.GetFullPath(path));
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    /// <summary>Parses a GGUF image held in memory (the bytes are copied once into native memory).</summary>
    /// <exception cref="GgufFormatException">The bytes are not a valid GGUF file.</exception>
    public static GgufFile FromBytes(ReadOnlySpan<byte> bytes)
    {
        var region = new NativeCopyRegion(bytes);
        try
        {
            return new GgufFile(region, null);
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    /// <summary>The tensor of that name, or null.</summary>
    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>The tensor of that name; a missing one throws <see cref="GgufFormatException"/>.</summary>
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException("missing tensor", -1, tensor: name);

    /// <summary>The bytes of a tensor, inside the map. Tensors over 2 GiB need <see cref="GetTensorPointer"/>.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        var p = GetTensorPointer(tensor);
        return tensor.ByteSize > int.MaxValue
            ? throw new InvalidOperationException($"tensor '{tensor.Name}' has {tensor.ByteSize} bytes, more than a span can hold")
            : new ReadOnlySpan<byte>(p, (int)tensor.ByteSize);
    }

    /// <summary>The elements of a tensor as <typeparamref name="T"/> (e.g. float for F32).</summary>
    public ReadOnlySpan<T> GetTensorData<T>(GgufTensorInfo tensor)
        where T : unmanaged
    {
        var bytes = GetTensorBytes(tensor);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes);
    }

    /// <summary>A pointer to the first byte of a tensor's data, valid until the file is disposed.</summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _region.ThrowIfDisposed();
        if (!ReferenceEquals(_tensorsByName.GetValueOrDefault(tensor.Name), tensor))
        {
            throw new ArgumentException($"tensor '{tensor.Name}' belongs to another file", nameof(tensor));
        }

        return _region.Pointer + tensor.FileOffset;
    }

    /// <summary>
    /// Lets the OS take back the pages of [<paramref name="start"/>, +<paramref name="length"/>) from this process
    /// (e.g. after a tensor was copied into another layout): on a mapped file they are dropped and read again
    /// from the file if touched; elsewhere, or after disposal, nothing happens. The bytes never change.
    /// </summary>
    public void ReleasePages(byte* start, long length) => _region.ReleasePages(start, length);

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => _region.Dispose();

    /// <summary>Offset of the data section given where the tensor table ends.</summary>
    internal static long AlignUp(long offset, uint alignment) => (offset + alignment - 1) / alignment * alignment;

    /// <summary>Reads a little-endian value; the caller has checked the bounds.</summary>
    internal static T Read<T>(byte* p)
        where T : unmanaged => Unsafe.ReadUnaligned<T>(p);
}
