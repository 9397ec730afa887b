namespace First.Cpu.Quants;

/// <summary>Q4_0 · Q8 activations on x86.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>AVX2 + FMA: unsigned nibbles through vpmaddubsw/vpmaddwd (no overflow: 2·15·127 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q4_0Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens.</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q4_0Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q4_0Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI: unsigned nibbles through vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q4_0Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q4_0x8, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q4_0x8, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvxVnni(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q4_0x8, VnniAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX-512 BW, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against eight tokens.</summary>
    public static void Dot8PairInterleavedAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot8PairNibblesAvx512<Q4_0x8>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one token.</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q4_0x8, MaddAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q4_0x8, MaddAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvx2(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q4_0x8, MaddAccumulate>(group, groupBytes, activations, stride, n, y, yStride);
}
