namespace First.Cpu.Quants;

/// <summary>Q5_1 · Q8_1 on arm64 (see <see cref="LegacyQuantsArm"/>).</summary>
public static unsafe partial class Q5_1
{
    /// <summary>NEON: widening multiplies and pairwise widening adds (every Raspberry Pi 4).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => LegacyQuantsArm.DotMin<NeonDot>((byte*)weights, BlockQ5_1.Size, true, activations, n);

    /// <summary>NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => LegacyQuantsArm.DotMin<SdotDot>((byte*)weights, BlockQ5_1.Size, true, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        LegacyQuantsArm.DotMin4<NeonDot>((byte*)weights, BlockQ5_1.Size, true, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        LegacyQuantsArm.DotMin4<SdotDot>((byte*)weights, BlockQ5_1.Size, true, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, eight interleaved rows (<see cref="Interleaved8"/>'s nibble layout) against one Q8_1 token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotMinArm<Q5_1x8Arm, SdotQuads>(group, activations, n, y);

    /// <summary>NEON with sdot, eight interleaved rows against four Q8_1 tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4MinArm<Q5_1x8Arm, SdotQuads>(group, activations, stride, n, y, yStride);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows (<see cref="Interleaved8"/>'s nibble layout) against one Q8_1 token.</summary>
    public static void DotInterleavedAdvSimd(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotMinArm<Q5_1x8Arm, NeonQuads>(group, activations, n, y);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows against four Q8_1 tokens.</summary>
    public static void Dot4InterleavedAdvSimd(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4MinArm<Q5_1x8Arm, NeonQuads>(group, activations, stride, n, y, yStride);
}
