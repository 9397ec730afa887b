namespace First.Cpu.Quants;

/// <summary>Q8_0 · Q8 activations on x86.</summary>
public static unsafe partial class Q8_0
{
    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>) against one token; quants read unsigned.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q8_0x8Unsigned, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q8_0x8Unsigned, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvxVnni(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q8_0x8Unsigned, VnniAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one token; |w| · sign(a, w).</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q8_0x8Signed, SignAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q8_0x8Signed, SignAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-512 BW, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against eight tokens.</summary>
    public static void Dot8PairInterleavedAvx512(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot8PairQ8_0Avx512(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvx2(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q8_0x8Signed, SignAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, in ggml's eight-lane order (<see cref="Q8DotX86.LaneDot{TBlock, TDot}"/>; twin <see cref="DotLanesScalar"/>).</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q8_0Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI, one row against four tokens, in ggml's eight-lane order.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q8_0Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>
    /// AVX2 + FMA, in ggml's eight-lane order: |w| · sign(a, w) through vpmaddubsw/vpmaddwd (unsigned +128 would
    /// saturate vpmaddubsw; 2·128·127 &lt; 32767 does not).
    /// </summary>
    public static float DotAvx2(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q8_0Unsigned, MaddDot>((byte*)weights, activations, n);

    /// <summary>AVX2 + FMA, one row against four tokens, in ggml's eight-lane order.</summary>
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q8_0Unsigned, MaddDot>((byte*)weights, (byte*)activations, stride, n, output);
}
