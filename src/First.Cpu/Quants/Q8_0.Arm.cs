using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q8_0·Q8_0 on arm64: NEON (every Raspberry Pi 4) and NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
public static unsafe partial class Q8_0
{
    /// <summary>NEON: widening multiplies to int16 and pairwise widening adds to int32 (exact for every byte pair).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ8_0.Elements;
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ8_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w, a)), Vector128.Create(Scale(w, a)));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w + BlockQ8_0.Size, a + BlockQ8_0.Size)),
                Vector128.Create(Scale(w + BlockQ8_0.Size, a + BlockQ8_0.Size)));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w, a)), Vector128.Create(Scale(w, a)));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    /// <summary>NEON with the dot-product extension: two sdot per block.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ8_0.Elements;
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ8_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsDp(w, a)), Vector128.Create(Scale(w, a)));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(BlockSumsDp(w + BlockQ8_0.Size, a + BlockQ8_0.Size)),
                Vector128.Create(Scale(w + BlockQ8_0.Size, a + BlockQ8_0.Size)));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsDp(w, a)), Vector128.Create(Scale(w, a)));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> BlockSumsAdvSimd(byte* w, byte* a) =>
        SignedDotAdvSimd(AdvSimd.LoadVector128((sbyte*)(w + 2)), AdvSimd.LoadVector128((sbyte*)(w + 18)),
            AdvSimd.LoadVector128((sbyte*)(a + 2)), AdvSimd.LoadVector128((sbyte*)(a + 18)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> BlockSumsDp(byte* w, byte* a) =>
        SignedDotDp(AdvSimd.LoadVector128((sbyte*)(w + 2)), AdvSimd.LoadVector128((sbyte*)(w + 18)),
            AdvSimd.LoadVector128((sbyte*)(a + 2)), AdvSimd.LoadVector128((sbyte*)(a + 18)));

    /// <summary>Four int32 lanes summing to x0·y0 + x1·y1 over 32 signed bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> SignedDotAdvSimd(Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1)
    {
        var sum = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(x0.GetLower(), y0.GetLower()));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningUpper(x0, y0));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningLower(x1.GetLower(), y1.GetLower()));
        return AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningUpper(x1, y1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> SignedDotDp(Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1) =>
        Dp.DotProduct(Dp.DotProduct(Vector128<int>.Zero, x0, y0), x1, y1);
}
