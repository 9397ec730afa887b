using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace First.Gguf;

/// <summary>
/// Read-only bytes that a <see cref="GgufFile"/> parses and hands out spans of: a memory map of a
/// file, or a native copy of bytes held in memory. Spans taken from it are valid until disposal.
/// </summary>
internal abstract unsafe class MemoryRegion : IDisposable
{
    public byte* Pointer { get; protected set; }

    public long Length { get; protected set; }

    public bool IsDisposed { get; private set; }

    public void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    public long OffsetOf(byte* p) => p - Pointer;

    public void Dispose()
    {
        if (!IsDisposed)
        {
            IsDisposed = true;
            Release();
            Pointer = null;
        }
    }

    protected abstract void Release();
}

/// <summary>A whole file mapped read-only; the pages are read by the OS only when touched.</summary>
internal sealed unsafe class MappedFileRegion : MemoryRegion
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    public MappedFileRegion(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        var length = stream.Length;
        if (length == 0)
        {
            throw new GgufFormatException("the file is empty", 0);
        }

        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Pointer = p + _view.PointerOffset;
            Length = length;
        }
        catch
        {
            _view?.Dispose();
            _map.Dispose();
            throw;
        }
    }

    protected override void Release()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>A native copy of bytes (for files built in memory, tests and small inputs).</summary>
internal sealed unsafe class NativeCopyRegion : MemoryRegion
{
    public NativeCopyRegion(ReadOnlySpan<byte> bytes)
    {
        // One byte more than asked so that an empty input still has a valid pointer.
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes.Length + 1, 64);
        bytes.CopyTo(new Span<byte>(Pointer, bytes.Length));
        Length = bytes.Length;
    }

    protected override void Release() => NativeMemory.AlignedFree(Pointer);
}
