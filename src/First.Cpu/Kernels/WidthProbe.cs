using System.Diagnostics;
using System.Runtime.InteropServices;
using First.Cpu.Quants;

namespace First.Cpu.Kernels;

/// <summary>
/// Times the AVX-512 Q4_0 prefill kernel against AVX-VNNI's or AVX2's on a small product held in L1 (two groups of
/// eight rows, 512 columns, eight tokens), alternating the two and keeping each one's best of several rounds, for
/// <see cref="KernelRegistry.WideIntegerPays"/>. Values are zeros: the kernels' speed does not depend on them.
/// </summary>
internal static unsafe class WidthProbe
{
    /// <summary>The AVX-512 kernels are taken when they need at most this fraction of the row path's time.</summary>
    public const double Threshold = 0.9;

    private const int Blocks = 16;
    private const int Rounds = 16;
    private const int Calls = 48;

    /// <summary>The AVX-512 kernel's time over that of <paramref name="rowPath"/> (AVX-VNNI or AVX2) for the same eight tokens. Needs both paths.</summary>
    public static double Measure(KernelPath rowPath)
    {
        delegate*<byte*, long, byte*, int, int, float*, int, void> narrow = rowPath switch
        {
            KernelPath.AvxVnni => &Q4_0.Dot4PairInterleavedAvxVnni,
            KernelPath.Avx2 => &Q4_0.Dot4PairInterleavedAvx2,
            _ => throw new ArgumentOutOfRangeException(nameof(rowPath), rowPath, "the AVX-512 prefill kernels pair with AVX-VNNI or AVX2"),
        };
        const int n = Blocks * Q8Activations.BlockSize;
        const long groupBytes = Interleaved8.Rows * BlockQ4_0.Size * Blocks;
        var rowBytes = Q8Activations.Bytes(n);
        var bytes = (nuint)((2 * groupBytes) + (8 * rowBytes) + (8 * 16 * sizeof(float)));
        var memory = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        try
        {
            NativeMemory.Clear(memory, bytes);
            var group = memory;
            var x = memory + (2 * groupBytes);
            var y = (float*)(x + (8 * rowBytes));
            long rows = long.MaxValue, wide = long.MaxValue;
            for (var round = 0; round < Rounds; round++)
            {
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < Calls; i++)
                {
                    narrow(group, groupBytes, x, rowBytes, n, y, 16);
                    narrow(group, groupBytes, x + (4 * rowBytes), rowBytes, n, y + 64, 16);
                }

                var middle = Stopwatch.GetTimestamp();
                for (var i = 0; i < Calls; i++)
                {
                    Q4_0.Dot8PairInterleavedAvx512(group, groupBytes, x, rowBytes, n, y, 16);
                }

                var end = Stopwatch.GetTimestamp();
                rows = Math.Min(rows, middle - start);
                wide = Math.Min(wide, end - middle);
            }

            return (double)wide / Math.Max(1, rows);
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }
}
