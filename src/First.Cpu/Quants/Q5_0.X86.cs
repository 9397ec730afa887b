namespace First.Cpu.Quants;

/// <summary>Q5_0 · Q8 activations on x86, in ggml's eight-lane order (<see cref="Q8DotX86.LaneDot{TBlock, TDot}"/>; twin <see cref="DotLanesScalar"/>).</summary>
public static unsafe partial class Q5_0
{
    /// <summary>AVX2 + FMA: |q| · sign(a, q) through vpmaddubsw/vpmaddwd (no overflow: 2·16·127 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q5_0Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens.</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q5_0Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI: vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q5_0Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q5_0Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);
}
