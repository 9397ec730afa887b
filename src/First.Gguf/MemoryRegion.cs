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

    /// <summary>
    /// Tells the OS that <paramref name="length"/> bytes from <paramref name="start"/> will not be read soon, so
    /// their pages can leave the process's resident set. A map re-reads them from the file if they are
    /// touched again; other regions ignore the hint.
    /// </summary>
    public virtual void ReleasePages(byte* start, long length)
    {
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

    public override void ReleasePages(byte* start, long length)
    {
        if (IsDisposed || !OperatingSystem.IsLinux() || start < Pointer || start + length > Pointer + Length)
        {
            return;
        }

        // Only whole pages inside the range: the neighbours' bytes stay where they are.
        var page = Environment.SystemPageSize;
        var first = ((nint)start + page - 1) & ~(nint)(page - 1);
        var end = ((nint)start + (nint)length) & ~(nint)(page - 1);
        if (end > first)
        {
            _ = NativeMethods.Madvise(first, (nuint)(end - first), NativeMethods.DontNeed); // advice: a failure changes nothing
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

/// <summary>libc calls (Linux).</summary>
internal static partial class NativeMethods
{
    /// <summary>MADV_DONTNEED (asm-generic/mman-common.h): on a shared file map, drop the pages; the next touch reads the file again.</summary>
    public const int DontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise")]
    public static partial int Madvise(nint address, nuint length, int advice);
}
