namespace First.Tests;

/// <summary>
/// The traits build/test.sh selects its reruns by. The whole suite runs once natively; the runs with instruction sets
/// switched off (DOTNET_Enable*=0) and the runs on arm64 under qemu take only the classes that exercise per-ISA code.
/// </summary>
internal static class TestTraits
{
    /// <summary>The trait's name.</summary>
    public const string Isa = "Isa";

    /// <summary>Kernels with a path per instruction set, each against its scalar twin: every rerun and qemu run takes them.</summary>
    public const string Kernels = "kernels";

    /// <summary>
    /// Logits or text against the llama.cpp build that sums in the order the engine follows in the process
    /// (<see cref="ReferenceBuild"/>): the AVX-512-off rerun of an AVX-512 host takes them, to check the AVX2 order.
    /// </summary>
    public const string Order = "order";
}
