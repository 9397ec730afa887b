using System.Runtime.InteropServices;
using First.Cpu.Quants;
using First.Gguf;

namespace First.Cpu.Kernels;

/// <summary>
/// A matrix's rows interleaved in groups of eight (<see cref="Interleaved8"/>), in memory this object owns.
/// The copy is made on first use (<see cref="Ensure"/>), split across the caller's worker pool, so opening
/// a model stays cheap; afterwards the source pages can be handed back to the OS (the copy holds the same
/// bytes), which keeps the process near one copy of the weights. Thread-safe; the data never moves.
/// </summary>
public sealed unsafe partial class InterleavedRows : IDisposable
{
    private const int HugePage = 2 << 20;
    private const int AdviseHugePage = 14; // MADV_HUGEPAGE, asm-generic/mman-common.h

    private readonly Lock _lock = new();
    private readonly byte* _source;
    private readonly Action<nint, long>? _releaseSource;
    private nint _data; // byte*, published with a volatile write once complete
    private bool _disposed;

    internal InterleavedRows(byte* source, int rows, int rowBytes, InterleavedKernel kernel, Action<nint, long>? releaseSource)
    {
        _source = source;
        _releaseSource = releaseSource;
        Groups = rows / Interleaved8.Rows;
        RowBytes = rowBytes;
        Kernel = kernel;
    }

    /// <summary>Finalizer: frees the copy of a matrix nobody disposed.</summary>
    ~InterleavedRows() => Free();

    /// <summary>The kernel that reads the copy.</summary>
    public InterleavedKernel Kernel { get; }

    /// <summary>Groups of eight rows.</summary>
    public int Groups { get; }

    /// <summary>Bytes of one stored row (and of one interleaved group: eight of them).</summary>
    public int RowBytes { get; }

    /// <summary>Bytes of one group.</summary>
    public long GroupBytes => (long)RowBytes * Interleaved8.Rows;

    /// <summary>The interleaved groups, made now if this is the first call.</summary>
    public byte* Ensure(WorkerPool pool)
    {
        var data = (byte*)Volatile.Read(ref _data);
        return data != null ? data : Build(pool);
    }

    /// <summary>Frees the copy. Products still running on it are the caller's mistake, as with a disposed file.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private byte* Build(WorkerPool pool)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_data != 0)
            {
                return (byte*)_data;
            }

            var data = (byte*)AllocateOnHugePages((nuint)(GroupBytes * Groups));
            var job = new PackJob(_source, data, RowBytes, Kernel.Type, Groups);
            pool.Run(&Pack, &job);
            Volatile.Write(ref _data, (nint)data);
            _releaseSource?.Invoke((nint)_source, GroupBytes * Groups);
            return data;
        }
    }

    private void Free()
    {
        lock (_lock)
        {
            _disposed = true;
            if (_data != 0)
            {
                NativeMemory.AlignedFree((void*)_data);
                _data = 0;
            }
        }
    }

    /// <summary>
    /// <paramref name="size"/> bytes aligned to 2 MiB, on transparent huge pages where the system grants them on
    /// request: a 2 MiB page costs one fault instead of 512 while it is written, and one TLB entry while it is
    /// streamed. Freed with <see cref="NativeMemory.AlignedFree"/>.
    /// </summary>
    internal static void* AllocateOnHugePages(nuint size)
    {
        var data = NativeMemory.AlignedAlloc(size, HugePage);
        if (OperatingSystem.IsLinux() && size >= HugePage)
        {
            _ = Madvise((nint)data, size, AdviseHugePage);
        }

        return data;
    }

    private static void Pack(void* context, int index, int count)
    {
        ref var job = ref *(PackJob*)context;
        var (start, end) = WorkerPool.Share(job.Groups, index, count);
        for (var g = start; g < end; g++)
        {
            Interleaved8.Pack(job.Type, job.Source, job.RowBytes, g * Interleaved8.Rows, job.Data + ((long)g * job.RowBytes * Interleaved8.Rows));
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    private readonly struct PackJob(byte* source, byte* data, int rowBytes, GgmlType type, int groups)
    {
        public readonly byte* Source = source;
        public readonly byte* Data = data;
        public readonly int RowBytes = rowBytes;
        public readonly GgmlType Type = type;
        public readonly int Groups = groups;
    }
}
