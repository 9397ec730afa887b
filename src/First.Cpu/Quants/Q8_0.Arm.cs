using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q8_0 · Q8 activations on arm64: NEON (every Raspberry Pi 4) and NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
public static unsafe partial class Q8_0
{
    /// <summary>NEON: widening multiplies to int16 and pairwise widening adds to int32 (exact for every byte pair).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => DotArm<NeonDot>((byte*)weights, activations, n);

    /// <summary>NEON with the dot-product extension: two sdot per block.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => DotArm<SdotDot>((byte*)weights, activations, n);

    /// <summary>NEON with sdot, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q8_0x8Arm>(group, activations, n, y);

    /// <summary>NEON with sdot, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Arm<Q8_0x8Arm>(group, activations, stride, n, y, yStride);

    private static float DotArm<TDot>(byte* w, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var nb = n / BlockQ8_0.Elements;
        var a = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ8_0.Size, a += 64)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(Block<TDot>(w + BlockQ8_0.Size, a + 32)),
                Vector128.Create(Fp16.ToFloat(*(ushort*)(w + BlockQ8_0.Size)) * ad[i + 1]));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Block<TDot>(byte* w, sbyte* a)
        where TDot : ISignedDotArm =>
        TDot.Dot(AdvSimd.LoadVector128((sbyte*)(w + 2)), AdvSimd.LoadVector128((sbyte*)(w + 18)), AdvSimd.LoadVector128(a), AdvSimd.LoadVector128(a + 16));
}

/// <summary>Four int32 lanes summing to x0·y0 + x1·y1 over 32 signed bytes.</summary>
internal interface ISignedDotArm
{
    static abstract Vector128<int> Dot(Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1);

    /// <summary>Four int32 lanes summing to x·y over 16 signed bytes.</summary>
    static abstract Vector128<int> Dot16(Vector128<sbyte> x, Vector128<sbyte> y);
}

/// <summary>NEON: smull/smull2 and sadalp.</summary>
internal readonly struct NeonDot : ISignedDotArm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot(Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1)
    {
        var sum = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(x0.GetLower(), y0.GetLower()));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningUpper(x0, y0));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningLower(x1.GetLower(), y1.GetLower()));
        return AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningUpper(x1, y1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot16(Vector128<sbyte> x, Vector128<sbyte> y) =>
        AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(x.GetLower(), y.GetLower())), AdvSimd.MultiplyWideningUpper(x, y));
}

/// <summary>NEON with the dot-product extension: sdot.</summary>
internal readonly struct SdotDot : ISignedDotArm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot(Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1) =>
        Dp.DotProduct(Dp.DotProduct(Vector128<int>.Zero, x0, y0), x1, y1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot16(Vector128<sbyte> x, Vector128<sbyte> y) => Dp.DotProduct(Vector128<int>.Zero, x, y);
}
