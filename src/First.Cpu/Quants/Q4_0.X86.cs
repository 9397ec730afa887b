namespace First.Cpu.Quants;

/// <summary>Q4_0 · Q8 activations on x86.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>AVX2 + FMA: unsigned nibbles through vpmaddubsw/vpmaddwd (no overflow: 2·15·127 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.Dot<Q4_0Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens.</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.Dot4<Q4_0Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.Dot4<Q4_0Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI: unsigned nibbles through vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.Dot<Q4_0Unsigned, VnniDot>((byte*)weights, activations, n);
}
