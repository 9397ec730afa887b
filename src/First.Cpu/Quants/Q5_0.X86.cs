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

    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>'s Q5_0 layout) against one token.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q5_0x8, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q5_0x8, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvxVnni(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q5_0x8, VnniAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX-512 BW, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against eight tokens.</summary>
    public static void Dot8PairInterleavedAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot8PairNibblesAvx512<Q5_0x8>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one token.</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q5_0x8, MaddAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q5_0x8, MaddAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvx2(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q5_0x8, MaddAccumulate>(group, groupBytes, activations, stride, n, y, yStride);
}
