namespace First.Cpu.Quants;

/// <summary>Q4_0 · Q8 activations on x86.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>AVX2 + FMA: unsigned nibbles through vpmaddubsw/vpmaddwd (no overflow: 2·15·127 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.Dot<Q4_0Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI: unsigned nibbles through vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.Dot<Q4_0Unsigned, VnniDot>((byte*)weights, activations, n);
}
