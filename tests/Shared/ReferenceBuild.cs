using First.Cpu.Kernels;

namespace First.Tests;

/// <summary>
/// Which build of llama.cpp's libraries the engine in this process is compared with: the one that sums in the order
/// the engine follows here (<see cref="GgmlOrders.Current"/>). The AVX-512 order is the host's native build (bin/ of
/// shared/tools/llama-cpp-reference.sh), which only an AVX-512 host runs. The AVX2 order is the native build on a CPU
/// without AVX-512, and on one with it the AVX2-level build of build/reference.sh (the suite's AVX-512-off rerun uses it).
/// </summary>
internal static class ReferenceBuild
{
    private static readonly Lazy<bool> s_hostHasAvx512 = new(() =>
        File.Exists("/proc/cpuinfo") && File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Split(' ').Contains("avx512f")));

    /// <summary>The folder of libllama.so, libggml*.so (and, for the native build, the command-line tools).</summary>
    public static string LibraryDir => GgmlOrders.Current == GgmlOrder.Avx2 && s_hostHasAvx512.Value
        ? Path.Combine(TestPaths.ReferenceDir + "-avx2", "bin")
        : Path.Combine(TestPaths.ReferenceDir, "bin");

    /// <summary>How to make <see cref="LibraryDir"/> when it is missing.</summary>
    public static string InstallHint => LibraryDir.Contains("-avx2", StringComparison.Ordinal)
        ? "build/reference.sh avx2"
        : "../shared/tools/llama-cpp-reference.sh --tools";

    /// <summary>For test output: which order and which build.</summary>
    public static string Describe() => $"{GgmlOrders.Describe(GgmlOrders.Current)} against {LibraryDir}";
}
