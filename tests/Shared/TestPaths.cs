namespace First.Tests;

/// <summary>Where the shared files and llama.cpp's reference build are.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> s_root = new(FindRepositoryRoot);

    /// <summary>The repository root (the folder with First.sln).</summary>
    public static string Root => s_root.Value;

    /// <summary>../shared beside the repository, or FIRST_SHARED_DIR.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("FIRST_SHARED_DIR") is { Length: > 0 } d
        ? d
        : Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static string Model(string name) => Path.Combine(Shared, "models", name);

    public static string Vocab(string name) => Path.Combine(Shared, "vocab", name);

    /// <summary>Every GGUF file in shared/ (models and vocabularies).</summary>
    public static IEnumerable<string> AllSharedGgufFiles() =>
        Directory.EnumerateFiles(Path.Combine(Shared, "models"), "*.gguf")
            .Concat(Directory.EnumerateFiles(Path.Combine(Shared, "vocab"), "*.gguf"))
            .Order(StringComparer.Ordinal);

    /// <summary>
    /// The folder shared/tools/llama-cpp-reference.sh installs into: FIRST_REF_DIR, else the
    /// script's default under the cache folder.
    /// </summary>
    public static string ReferenceDir => Environment.GetEnvironmentVariable("FIRST_REF_DIR") is { Length: > 0 } d
        ? d
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } c
            ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "first-llama-cpp-3.22.1");

    /// <summary>
    /// When FIRST_REQUIRE_REFERENCE=1 (as in CI), a missing reference is a failure; otherwise the
    /// tests that need it are reported as skipped.
    /// </summary>
    public static void SkipOrFailWithoutReference(bool available, string what)
    {
        if (available)
        {
            return;
        }

        var message = what.Contains('(', StringComparison.Ordinal) ? $"{what} is not installed" : $"{what} is not installed (run ../shared/tools/llama-cpp-reference.sh --tools)";
        if (Environment.GetEnvironmentVariable("FIRST_REQUIRE_REFERENCE") == "1")
        {
            Assert.Fail(message + " and FIRST_REQUIRE_REFERENCE=1");
        }

        Assert.Skip(message);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "First.sln")))
            {
                return dir.FullName;
            }
        }

        // A test binary published elsewhere (e.g. for arm64 under qemu) is told where the repository is.
        return Environment.GetEnvironmentVariable("FIRST_REPO_DIR")
            ?? throw new InvalidOperationException("cannot find First.sln above the test binary; set FIRST_REPO_DIR");
    }
}
