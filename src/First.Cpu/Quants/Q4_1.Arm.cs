namespace First.Cpu.Quants;

/// <summary>Q4_1 · Q8_1 on arm64 (see <see cref="LegacyQuantsArm"/>).</summary>
public static unsafe partial class Q4_1
{
    /// <summary>NEON: widening multiplies and pairwise widening adds (every Raspberry Pi 4).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => LegacyQuantsArm.DotMin<NeonDot>((byte*)weights, BlockQ4_1.Size, false, activations, n);

    /// <summary>NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => LegacyQuantsArm.DotMin<SdotDot>((byte*)weights, BlockQ4_1.Size, false, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        LegacyQuantsArm.DotMin4<NeonDot>((byte*)weights, BlockQ4_1.Size, false, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        LegacyQuantsArm.DotMin4<SdotDot>((byte*)weights, BlockQ4_1.Size, false, (byte*)activations, stride, n, output);
}
