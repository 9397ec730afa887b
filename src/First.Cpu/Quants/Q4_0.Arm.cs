using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q4_0 · Q8 activations on arm64: NEON and NEON with sdot.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>NEON: nibbles to signed bytes q − 8, then widening multiplies.</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => DotArm<NeonDot>((byte*)weights, activations, n);

    /// <summary>NEON with sdot.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => DotArm<SdotDot>((byte*)weights, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q4_0Arm, NeonDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q4_0Arm, SdotDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q4_0x8Arm>(group, activations, n, y);

    /// <summary>NEON with sdot, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Arm<Q4_0x8Arm>(group, activations, stride, n, y, yStride);

    private static float DotArm<TDot>(byte* w, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var nb = n / BlockQ4_0.Elements;
        var a = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ4_0.Size, a += 64)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(Block<TDot>(w + BlockQ4_0.Size, a + 32)),
                Vector128.Create(Fp16.ToFloat(*(ushort*)(w + BlockQ4_0.Size)) * ad[i + 1]));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Block<TDot>(byte* w, sbyte* a)
        where TDot : ISignedDotArm
    {
        var (low, high) = Q4_0Arm.Signed(w);
        return TDot.Dot(low, high, AdvSimd.LoadVector128(a), AdvSimd.LoadVector128(a + 16));
    }
}
