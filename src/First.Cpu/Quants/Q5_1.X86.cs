namespace First.Cpu.Quants;

/// <summary>Q5_1 · Q8_1 on x86 (see <see cref="Q8DotX86.DotMin{TBlock, TDot}"/>).</summary>
public static unsafe partial class Q5_1
{
    /// <summary>AVX2 + FMA: vpmaddubsw/vpmaddwd (no overflow: 2·31·128 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.DotMin<Q5_1Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI: vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.DotMin<Q5_1Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.DotMin4<Q5_1Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.DotMin4<Q5_1Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);
}
