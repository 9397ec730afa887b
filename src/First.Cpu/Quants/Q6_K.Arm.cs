namespace First.Cpu.Quants;

/// <summary>Q6_K · Q8_K on arm64 (see <see cref="KQuantsArm"/>).</summary>
public static unsafe partial class Q6_K
{
    /// <summary>NEON: widening multiplies and pairwise widening adds (every Raspberry Pi 4).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => KQuantsArm.DotQ6_K<NeonDot>(weights, activations, n);

    /// <summary>NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => KQuantsArm.DotQ6_K<SdotDot>(weights, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        KQuantsArm.Dot4Q6_K<NeonDot>(weights, activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        KQuantsArm.Dot4Q6_K<SdotDot>(weights, activations, stride, n, output);

    /// <summary>Dot product extension, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotQ6_KArm<SdotQuads>(group, activations, n, y);

    /// <summary>Dot product extension, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Q6_KArm<SdotQuads>(group, activations, stride, n, y, yStride);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimd(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotQ6_KArm<NeonQuads>(group, activations, n, y);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimd(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Q6_KArm<NeonQuads>(group, activations, stride, n, y, yStride);
}
