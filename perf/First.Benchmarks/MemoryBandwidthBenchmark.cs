using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using First.Cpu.Kernels;

namespace First.Benchmarks;

/// <summary>
/// The machine's streaming read bandwidth: every byte of a 1 GiB buffer read once, split across the
/// threads of a <see cref="WorkerPool"/>, with the widest vectors the CPU has. Decode speed is bounded by
/// this figure; the matrix-vector benchmarks are reported against it. Measured on ordinary 4 KiB pages and on
/// transparent huge pages (where the system grants them on request), which the interleaved weight copies use
/// (<see cref="InterleavedRows"/>): with few TLB misses the same read runs much faster.
/// </summary>
[Config(typeof(Config))]
public unsafe class MemoryBandwidthBenchmark : IThroughput
{
    private const long Size = 1L << 30;
    private byte* _buffer;
    private WorkerPool? _pool;

    [Params(1, 2)]
    public int Threads { get; set; } = 2;

    [Params(false, true)]
    public bool HugePages { get; set; }

    public double BytesPerOperation => Size;

    public double FlopsPerOperation => 0;

    [GlobalSetup]
    public void Setup()
    {
        _buffer = (byte*)(HugePages ? InterleavedRows.AllocateOnHugePages((nuint)Size) : NativeMemory.AlignedAlloc((nuint)Size, 2 << 20));

        new Span<byte>(_buffer, 1 << 20).Fill(1);
        for (long i = 0; i < Size; i += 1 << 20)
        {
            new Span<byte>(_buffer + i, 1 << 20).Fill((byte)i); // touch every page so the read is from memory, not the zero page
        }

        _pool = new WorkerPool(Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        NativeMemory.AlignedFree(_buffer);
    }

    [Benchmark]
    public void StreamingRead()
    {
        var context = _buffer;
        _pool!.Run(&Read, context);
    }

    private static void Read(void* context, int index, int count) => ReadPart((byte*)context, Size, index, count);

    /// <summary>
    /// Reads part <paramref name="index"/> of <paramref name="count"/> of <paramref name="bytes"/> bytes at
    /// <paramref name="start"/> with the widest vectors the CPU has (a last part's tail under 64 bytes is left unread).
    /// </summary>
    internal static void ReadPart(byte* start, long bytes, int index, int count)
    {
        var chunk = bytes / count / 64 * 64;
        var p = start + (chunk * index);
        var end = index == count - 1 ? start + bytes : p + chunk;

        // Four independent accumulators: with fewer, the XOR chain (not memory) sets the pace.
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<byte> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; p + 256 <= end; p += 256)
            {
                a0 ^= Vector512.Load(p);
                a1 ^= Vector512.Load(p + 64);
                a2 ^= Vector512.Load(p + 128);
                a3 ^= Vector512.Load(p + 192);
            }

            for (; p + 64 <= end; p += 64)
            {
                a0 ^= Vector512.Load(p);
            }

            Sink((a0 ^ a1 ^ a2 ^ a3).GetLower());
        }
        else
        {
            Vector256<byte> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; p + 128 <= end; p += 128)
            {
                a0 ^= Vector256.Load(p);
                a1 ^= Vector256.Load(p + 32);
                a2 ^= Vector256.Load(p + 64);
                a3 ^= Vector256.Load(p + 96);
            }

            for (; p + 64 <= end; p += 64)
            {
                a0 ^= Vector256.Load(p);
                a1 ^= Vector256.Load(p + 32);
            }

            Sink(a0 ^ a1 ^ a2 ^ a3);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Sink(Vector256<byte> v) => GC.KeepAlive(v);

    private sealed class Config : BenchmarkConfig
    {
        public Config() => AddColumn(ThroughputColumn.GigabytesPerSecond);
    }
}
