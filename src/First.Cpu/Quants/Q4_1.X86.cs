namespace First.Cpu.Quants;

/// <summary>Q4_1 · Q8_1 on x86 (see <see cref="Q8DotX86.DotMin{TBlock, TDot}"/>).</summary>
public static unsafe partial class Q4_1
{
    /// <summary>AVX2 + FMA: vpmaddubsw/vpmaddwd (no overflow: 2·31·128 &lt; 32767).</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.DotMin<Q4_1Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI: vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.DotMin<Q4_1Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.DotMin4<Q4_1Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.DotMin4<Q4_1Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>'s nibble layout) against one Q8_1 token.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotMin<Q4_1x8, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four Q8_1 tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Min<Q4_1x8, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-512 BW, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against eight Q8_1 tokens.</summary>
    public static void Dot8PairInterleavedAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot8PairNibblesAvx512<Q4_1x8>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one Q8_1 token.</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotMin<Q4_1x8, MaddAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four Q8_1 tokens.</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Min<Q4_1x8, MaddAccumulate>(group, activations, stride, n, y, yStride);
}
