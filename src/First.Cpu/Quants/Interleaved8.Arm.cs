using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>A block of eight interleaved rows (<see cref="Interleaved8"/>) read as sixteen 16-byte signed operands.</summary>
internal unsafe interface IInterleavedBlockArm
{
    /// <summary>Bytes of the eight rows' block.</summary>
    static abstract int Bytes { get; }

    /// <summary>As <see cref="IInterleavedBlock.OffsetShift"/>: the operands are the quants plus 2^OffsetShift, or exactly the quants when negative.</summary>
    static abstract int OffsetShift { get; }

    /// <summary>
    /// Operand <paramref name="k"/> (0..7) of rows 0..3 (<paramref name="half"/> 0) or 4..7 (1): quant values
    /// 4k..4k+3 of each of the four rows, in row order.
    /// </summary>
    static abstract Vector128<sbyte> Operand(byte* block, int k, int half);
}

/// <summary>
/// The arm64 products of eight interleaved rows with <see cref="Q8Activations"/>, with the dot-product
/// extension (Cortex-A76 and later: a Raspberry Pi 5). A chunk of the layout is two 16-byte registers, rows
/// 0..3 and rows 4..7, four quant bytes each; one sdot by element pairs it with one group of four activation
/// bytes (a lane of the 16 loaded), summing the group into every row's int32 lane. Sums start from the block's
/// offset correction, as on x86, and one conversion and multiply-add per half block follow.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = rows · x for one token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotArm<TBlock>(byte* group, byte* activations, int n, float* y)
        where TBlock : IInterleavedBlockArm
    {
        var nb = n / Q8Activations.BlockSize;
        var ad = Q8Activations.Scales(activations, n);
        var am = Q8Activations.NegatedSums(activations, n);
        Vector128<float> acc0 = default, acc1 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var x = activations + (b * Q8Activations.BlockSize);
            var start = StartArm<TBlock>(am, b);
            var (s0, s1) = SumArm<TBlock>(group, start, AdvSimd.LoadVector128((sbyte*)x), AdvSimd.LoadVector128((sbyte*)x + 16));
            var (d0, d1) = ScalesArm(group);
            var da = Vector128.Create(ad[b]);
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(s0), d0 * da);
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(s1), d1 * da);
        }

        acc0.Store(y);
        acc1.Store(y + 4);
    }

    /// <summary>y[t·yStride + 0..7] = rows · x_t for four tokens <paramref name="stride"/> bytes apart: the block's operands are loaded once for the four.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Arm<TBlock>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TBlock : IInterleavedBlockArm
    {
        var nb = n / Q8Activations.BlockSize;
        byte* x0 = activations, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        float* d0 = Q8Activations.Scales(x0, n), d1 = Q8Activations.Scales(x1, n), d2 = Q8Activations.Scales(x2, n), d3 = Q8Activations.Scales(x3, n);
        int* m0 = Q8Activations.NegatedSums(x0, n), m1 = Q8Activations.NegatedSums(x1, n), m2 = Q8Activations.NegatedSums(x2, n), m3 = Q8Activations.NegatedSums(x3, n);
        Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector128<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (var b = 0; b < nb; b++, group += TBlock.Bytes)
        {
            var w0 = TBlock.Operand(group, 0, 0);
            var w1 = TBlock.Operand(group, 1, 0);
            var w2 = TBlock.Operand(group, 2, 0);
            var w3 = TBlock.Operand(group, 3, 0);
            var w4 = TBlock.Operand(group, 4, 0);
            var w5 = TBlock.Operand(group, 5, 0);
            var w6 = TBlock.Operand(group, 6, 0);
            var w7 = TBlock.Operand(group, 7, 0);
            var v0 = TBlock.Operand(group, 0, 1);
            var v1 = TBlock.Operand(group, 1, 1);
            var v2 = TBlock.Operand(group, 2, 1);
            var v3 = TBlock.Operand(group, 3, 1);
            var v4 = TBlock.Operand(group, 4, 1);
            var v5 = TBlock.Operand(group, 5, 1);
            var v6 = TBlock.Operand(group, 6, 1);
            var v7 = TBlock.Operand(group, 7, 1);
            var (dw, dv) = ScalesArm(group);
            var q = b * Q8Activations.BlockSize;

            var lo = AdvSimd.LoadVector128((sbyte*)x0 + q);
            var hi = AdvSimd.LoadVector128((sbyte*)x0 + q + 16);
            var start = StartArm<TBlock>(m0, b);
            var s = Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            var r = Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            var e = Vector128.Create(d0[b]);
            a0 = AdvSimd.FusedMultiplyAdd(a0, AdvSimd.ConvertToSingle(s), dw * e);
            b0 = AdvSimd.FusedMultiplyAdd(b0, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x1 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x1 + q + 16);
            start = StartArm<TBlock>(m1, b);
            s = Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d1[b]);
            a1 = AdvSimd.FusedMultiplyAdd(a1, AdvSimd.ConvertToSingle(s), dw * e);
            b1 = AdvSimd.FusedMultiplyAdd(b1, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x2 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x2 + q + 16);
            start = StartArm<TBlock>(m2, b);
            s = Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d2[b]);
            a2 = AdvSimd.FusedMultiplyAdd(a2, AdvSimd.ConvertToSingle(s), dw * e);
            b2 = AdvSimd.FusedMultiplyAdd(b2, AdvSimd.ConvertToSingle(r), dv * e);

            lo = AdvSimd.LoadVector128((sbyte*)x3 + q);
            hi = AdvSimd.LoadVector128((sbyte*)x3 + q + 16);
            start = StartArm<TBlock>(m3, b);
            s = Chain(start, w0, w1, w2, w3, w4, w5, w6, w7, lo, hi);
            r = Chain(start, v0, v1, v2, v3, v4, v5, v6, v7, lo, hi);
            e = Vector128.Create(d3[b]);
            a3 = AdvSimd.FusedMultiplyAdd(a3, AdvSimd.ConvertToSingle(s), dw * e);
            b3 = AdvSimd.FusedMultiplyAdd(b3, AdvSimd.ConvertToSingle(r), dv * e);
        }

        a0.Store(y);
        b0.Store(y + 4);
        a1.Store(y + yStride);
        b1.Store(y + yStride + 4);
        a2.Store(y + (2 * yStride));
        b2.Store(y + (2 * yStride) + 4);
        a3.Store(y + (3 * yStride));
        b3.Store(y + (3 * yStride) + 4);
    }

    /// <summary>One token's block for rows 0..3 and rows 4..7, from <paramref name="start"/>; <paramref name="lo"/> and <paramref name="hi"/> hold its activation groups 0..3 and 4..7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<int> Low, Vector128<int> High) SumArm<TBlock>(byte* block, Vector128<int> start, Vector128<sbyte> lo, Vector128<sbyte> hi)
        where TBlock : IInterleavedBlockArm =>
        (Chain(start, TBlock.Operand(block, 0, 0), TBlock.Operand(block, 1, 0), TBlock.Operand(block, 2, 0), TBlock.Operand(block, 3, 0),
            TBlock.Operand(block, 4, 0), TBlock.Operand(block, 5, 0), TBlock.Operand(block, 6, 0), TBlock.Operand(block, 7, 0), lo, hi),
         Chain(start, TBlock.Operand(block, 0, 1), TBlock.Operand(block, 1, 1), TBlock.Operand(block, 2, 1), TBlock.Operand(block, 3, 1),
            TBlock.Operand(block, 4, 1), TBlock.Operand(block, 5, 1), TBlock.Operand(block, 6, 1), TBlock.Operand(block, 7, 1), lo, hi));

    /// <summary>Eight sdot by element: operand k against activation group k (lane k of <paramref name="lo"/>, then of <paramref name="hi"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Chain(Vector128<int> s, Vector128<sbyte> w0, Vector128<sbyte> w1, Vector128<sbyte> w2, Vector128<sbyte> w3,
        Vector128<sbyte> w4, Vector128<sbyte> w5, Vector128<sbyte> w6, Vector128<sbyte> w7, Vector128<sbyte> lo, Vector128<sbyte> hi)
    {
        s = Dp.DotProductBySelectedQuadruplet(s, w0, lo, 0);
        s = Dp.DotProductBySelectedQuadruplet(s, w1, lo, 1);
        s = Dp.DotProductBySelectedQuadruplet(s, w2, lo, 2);
        s = Dp.DotProductBySelectedQuadruplet(s, w3, lo, 3);
        s = Dp.DotProductBySelectedQuadruplet(s, w4, hi, 0);
        s = Dp.DotProductBySelectedQuadruplet(s, w5, hi, 1);
        s = Dp.DotProductBySelectedQuadruplet(s, w6, hi, 2);
        return Dp.DotProductBySelectedQuadruplet(s, w7, hi, 3);
    }

    /// <summary>Where a block's integer sums start (see the x86 Start).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> StartArm<TBlock>(int* negatedSums, int b)
        where TBlock : IInterleavedBlockArm =>
        TBlock.OffsetShift < 0 ? Vector128<int>.Zero : Vector128.Create(negatedSums[b] << TBlock.OffsetShift);

    /// <summary>The eight rows' half scales at the start of a block, as floats: rows 0..3, rows 4..7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<float> Low, Vector128<float> High) ScalesArm(byte* block)
    {
        var h = AdvSimd.LoadVector128((ushort*)block);
        return (Fp16.ToFloat(Vector128.WidenLower(h)), Fp16.ToFloat(Vector128.WidenUpper(h)));
    }
}

/// <summary>Q4_0 interleaved on arm64: operand k &lt; 4 is the low nibbles of chunk k, k ≥ 4 the high nibbles of chunk k − 4 (0..15, valid as signed bytes).</summary>
internal readonly unsafe struct Q4_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => 8 * BlockQ4_0.Size;

    public static int OffsetShift => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => k < 4
        ? (AdvSimd.LoadVector128(block + 16 + (32 * k) + (16 * half)) & Vector128.Create((byte)0x0F)).AsSByte()
        : AdvSimd.ShiftRightLogical(AdvSimd.LoadVector128(block + 16 + (32 * (k - 4)) + (16 * half)), 4).AsSByte();
}

/// <summary>Q8_0 interleaved on arm64: the quants as they are.</summary>
internal readonly unsafe struct Q8_0x8Arm : IInterleavedBlockArm
{
    public static int Bytes => 8 * BlockQ8_0.Size;

    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Operand(byte* block, int k, int half) => AdvSimd.LoadVector128((sbyte*)block + 16 + (32 * k) + (16 * half));
}
