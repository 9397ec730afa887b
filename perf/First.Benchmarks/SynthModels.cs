using System.Diagnostics;

namespace First.Benchmarks;

/// <summary>Real-shaped GGUF files with random weights, written once by ../shared/tools/synth-gguf.py.</summary>
internal static class SynthModels
{
    public static string Get(string preset, string type)
    {
        var root = FindRoot();
        var dir = Path.Combine(root, "artifacts", "models");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{preset}-{type}.gguf");
        if (File.Exists(path))
        {
            return path;
        }

        var psi = new ProcessStartInfo("python3") { UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(root, "..", "shared", "tools", "synth-gguf.py"), "--preset", preset, "--type", type, "-o", path })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode == 0 ? path : throw new InvalidOperationException($"synth-gguf.py failed ({p.ExitCode})");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "First.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("run the benchmarks from inside the repository");
    }
}
