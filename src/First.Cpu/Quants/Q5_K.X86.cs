namespace First.Cpu.Quants;

/// <summary>Q5_K · Q8_K on x86 (see <see cref="KQuantsX86"/>).</summary>
public static unsafe partial class Q5_K
{
    /// <summary>AVX2 + FMA: vpmaddubsw, then vpmaddwd by the group scales.</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => KQuantsX86.DotQ5_K<MaddWordAccumulate>(weights, activations, n);

    /// <summary>AVX-VNNI: vpmaddubsw, then vpdpwssd by the group scales.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => KQuantsX86.DotQ5_K<VnniWordAccumulate>(weights, activations, n);
}
