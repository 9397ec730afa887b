using System.Runtime.InteropServices;

namespace First.Tests;

/// <summary>
/// llama.cpp's libggml-base.so from shared/tools/llama-cpp-reference.sh (prebuilt for linux-x64 only):
/// loaded once; tests that need it are skipped where it cannot run, and fail in the suite when it is missing.
/// </summary>
internal static class ReferenceLibrary
{
    private static readonly Lazy<nint> s_handle = new(Load);

    public static string Path => System.IO.Path.Combine(TestPaths.ReferenceDir, "lib", "libggml-base.so");

    public static bool CanRun => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>The library handle, or a skipped test (a failed one under FIRST_REQUIRE_REFERENCE=1 on x64).</summary>
    public static nint Require()
    {
        if (!CanRun)
        {
            Assert.Skip($"llama.cpp's reference library is built for linux-x64; this is {RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture}");
        }

        TestPaths.SkipOrFailWithoutReference(s_handle.Value != 0, "llama.cpp's libggml-base.so");
        return s_handle.Value;
    }

    public static unsafe T* Export<T>(string name)
        where T : unmanaged => (T*)NativeLibrary.GetExport(Require(), name);

    private static nint Load() => CanRun && File.Exists(Path) ? NativeLibrary.Load(Path) : 0;
}
