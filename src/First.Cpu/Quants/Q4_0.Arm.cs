namespace First.Cpu.Quants;

/// <summary>Q4_0 · Q8 activations on arm64: NEON and NEON with sdot.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>NEON: nibbles to signed bytes q − 8, then widening multiplies.</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => Q8DotArm.Dot<Q4_0Arm, NeonDot>((byte*)weights, activations, n);

    /// <summary>NEON with sdot.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => Q8DotArm.Dot<Q4_0Arm, SdotDot>((byte*)weights, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q4_0Arm, NeonDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q4_0Arm, SdotDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q4_0x8Arm, SdotQuads>(group, activations, n, y);

    /// <summary>NEON with sdot, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Arm<Q4_0x8Arm, SdotQuads>(group, activations, stride, n, y, yStride);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimd(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q4_0x8Arm, NeonQuads>(group, activations, n, y);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimd(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4HalvesArm<Q4_0x8Arm, NeonQuads>(group, activations, stride, n, y, yStride);
}
