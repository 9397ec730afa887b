namespace First.Cpu.Quants;

/// <summary>Q5_K · Q8_K on x86 (see <see cref="KQuantsX86"/>).</summary>
public static unsafe partial class Q5_K
{
    /// <summary>AVX2 + FMA: vpmaddubsw, then vpmaddwd by the group scales.</summary>
    public static float DotAvx2(void* weights, void* activations, int n) => KQuantsX86.DotQ5_K<MaddWordAccumulate>(weights, activations, n);

    /// <summary>AVX-VNNI: vpmaddubsw, then vpdpwssd by the group scales.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => KQuantsX86.DotQ5_K<VnniWordAccumulate>(weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens.</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) => KQuantsX86.Dot4Q5_K<MaddWordAccumulate>(weights, activations, stride, n, output);

    /// <summary>AVX-VNNI, one row against four tokens.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) => KQuantsX86.Dot4Q5_K<VnniWordAccumulate>(weights, activations, stride, n, output);

    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotScaleMin<Q5_KLayout, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4ScaleMin<Q5_KLayout, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one token.</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotScaleMin<Q5_KLayout, MaddAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four tokens (a group's products summed in 16 bits, four at a time).</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4ScaleMin<Q5_KLayout, Madd16Accumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-512 BW, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against eight tokens.</summary>
    public static void Dot8PairInterleavedAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot8PairScaleMinAvx512<Q5_KLayout>(group, groupBytes, activations, stride, n, y, yStride);
}
