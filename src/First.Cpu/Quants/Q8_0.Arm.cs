using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q8_0 · Q8 activations on arm64: NEON (every Raspberry Pi 4) and NEON with sdot (Cortex-A76, Raspberry Pi 5).</summary>
public static unsafe partial class Q8_0
{
    /// <summary>NEON: widening multiplies to int16 and pairwise widening adds to int32 (exact for every byte pair).</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n) => Q8DotArm.Dot<Q8_0Arm, NeonDot>((byte*)weights, activations, n);

    /// <summary>NEON with the dot-product extension: two sdot per block.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n) => Q8DotArm.Dot<Q8_0Arm, SdotDot>((byte*)weights, activations, n);

    /// <summary>NEON, one row against four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4AdvSimd(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q8_0Arm, NeonDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, one row against four tokens.</summary>
    public static void Dot4AdvSimdDp(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotArm.Dot4<Q8_0Arm, SdotDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>NEON with sdot, eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimdDp(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q8_0x8Arm, SdotQuads>(group, activations, n, y);

    /// <summary>NEON with sdot, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimdDp(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Arm<Q8_0x8Arm, SdotQuads>(group, activations, stride, n, y, yStride);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows (<see cref="Interleaved8"/>) against one token.</summary>
    public static void DotInterleavedAdvSimd(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.DotArm<Q8_0x8Arm, NeonPairQuads>(group, activations, n, y);

    /// <summary>NEON without sdot (a Raspberry Pi 4), eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAdvSimd(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4HalvesArm<Q8_0x8Arm, NeonPairQuads>(group, activations, stride, n, y, yStride);
}

/// <summary>A weight block whose 32 quants an arm64 kernel reads as two vectors of signed bytes (values 0..15, 16..31).</summary>
internal unsafe interface IArmSignedBlock
{
    /// <summary>Bytes per block.</summary>
    static abstract int Bytes { get; }

    /// <summary>The quants of values 0..15 and 16..31.</summary>
    static abstract (Vector128<sbyte> Low, Vector128<sbyte> High) Signed(byte* block);
}

/// <summary>Q8_0's quants as stored.</summary>
internal readonly unsafe struct Q8_0Arm : IArmSignedBlock
{
    public static int Bytes => BlockQ8_0.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<sbyte> Low, Vector128<sbyte> High) Signed(byte* block) =>
        (AdvSimd.LoadVector128((sbyte*)(block + 2)), AdvSimd.LoadVector128((sbyte*)(block + 18)));
}

/// <summary>Q4_0's nibbles less 8: low nibbles are values 0..15, high ones 16..31.</summary>
internal readonly unsafe struct Q4_0Arm : IArmSignedBlock
{
    public static int Bytes => BlockQ4_0.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<sbyte> Low, Vector128<sbyte> High) Signed(byte* block)
    {
        var q = AdvSimd.LoadVector128(block + 2);
        var eight = Vector128.Create((sbyte)8);
        return ((q & Vector128.Create((byte)0x0F)).AsSByte() - eight, AdvSimd.ShiftRightLogical(q, 4).AsSByte() - eight);
    }
}

/// <summary>The arm64 row kernels with <see cref="Q8Activations"/>: one weight row against one or four tokens (Q4_0, Q5_0, Q8_0).</summary>
internal static unsafe class Q8DotArm
{
    /// <summary>Σ w·a: per block one integer dot product, a conversion and a multiply-add by d_w·d_a, even and odd blocks in two accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float Dot<TBlock, TDot>(byte* w, void* activations, int n)
        where TBlock : IArmSignedBlock
        where TDot : ISignedDotArm
    {
        var nb = n / Q8Activations.BlockSize;
        var a = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * TBlock.Bytes, a += 64)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TBlock, TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(Block<TBlock, TDot>(w + TBlock.Bytes, a + 32)),
                Vector128.Create(Fp16.ToFloat(*(ushort*)(w + TBlock.Bytes)) * ad[i + 1]));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Block<TBlock, TDot>(w, a)), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Block<TBlock, TDot>(byte* w, sbyte* a)
        where TBlock : IArmSignedBlock
        where TDot : ISignedDotArm
    {
        var (low, high) = TBlock.Signed(w);
        return TDot.Dot(low, high, AdvSimd.LoadVector128(a), AdvSimd.LoadVector128(a + 16));
    }

    /// <summary>
    /// output[t] = row · x_t for four tokens <paramref name="stride"/> bytes apart: each block's quants are
    /// loaded and unpacked once for the four; per token, one integer dot product, a conversion and a
    /// multiply-add by d_w·d_t.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void Dot4<TBlock, TDot>(byte* w, byte* activations, int stride, int n, float* output)
        where TBlock : IArmSignedBlock
        where TDot : ISignedDotArm
    {
        var nb = n / Q8Activations.BlockSize;
        sbyte* a0 = (sbyte*)activations, a1 = a0 + stride, a2 = a1 + stride, a3 = a2 + stride;
        float* d0 = Q8Activations.Scales(a0, n), d1 = Q8Activations.Scales(a1, n), d2 = Q8Activations.Scales(a2, n), d3 = Q8Activations.Scales(a3, n);
        var table = Fp16.Table;
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < nb; b++, w += TBlock.Bytes)
        {
            var (x0, x1) = TBlock.Signed(w);
            var dw = table[*(ushort*)w];
            var q = b * 32;
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(TDot.Dot(x0, x1, AdvSimd.LoadVector128(a0 + q), AdvSimd.LoadVector128(a0 + q + 16))), Vector128.Create(dw * d0[b]));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(TDot.Dot(x0, x1, AdvSimd.LoadVector128(a1 + q), AdvSimd.LoadVector128(a1 + q + 16))), Vector128.Create(dw * d1[b]));
            acc2 = AdvSimd.FusedMultiplyAdd(acc2, AdvSimd.ConvertToSingle(TDot.Dot(x0, x1, AdvSimd.LoadVector128(a2 + q), AdvSimd.LoadVector128(a2 + q + 16))), Vector128.Create(dw * d2[b]));
            acc3 = AdvSimd.FusedMultiplyAdd(acc3, AdvSimd.ConvertToSingle(TDot.Dot(x0, x1, AdvSimd.LoadVector128(a3 + q), AdvSimd.LoadVector128(a3 + q + 16))), Vector128.Create(dw * d3[b]));
        }

        output[0] = Vector128.Sum(acc0);
        output[1] = Vector128.Sum(acc1);
        output[2] = Vector128.Sum(acc2);
        output[3] = Vector128.Sum(acc3);
    }
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
        // smull2 before smull: the 64-bit views are then last uses, which spares the JIT a register copy each.
        var sum = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningUpper(x0, y0));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningLower(x0.GetLower(), y0.GetLower()));
        sum = AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningUpper(x1, y1));
        return AdvSimd.AddPairwiseWideningAndAdd(sum, AdvSimd.MultiplyWideningLower(x1.GetLower(), y1.GetLower()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Dot16(Vector128<sbyte> x, Vector128<sbyte> y) =>
        AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningUpper(x, y)), AdvSimd.MultiplyWideningLower(x.GetLower(), y.GetLower()));
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
