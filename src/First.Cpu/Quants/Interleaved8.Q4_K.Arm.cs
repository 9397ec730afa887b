using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// The arm64 products of eight interleaved Q4_K or Q5_K rows with Q8_K activations (sdot or plain NEON: <see cref="IQuadDotArm"/>).
/// The layout's 32-byte units hold rows 0..3 in their first 16 bytes and rows 4..7 in the next 16, so each half
/// of the rows is a 16-byte register: sdot by element (or its NEON equivalent) pairs a nibble operand with one group of four activation
/// bytes, a table lookup (tbl) spreads the half's scales and mins into its int32 lanes, and the sums are the x86
/// kernel's: Σ_g sc_g · Σ q·a in integers, and Σ_g m_g · (Σ a of group g) for the mins.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = the eight Q4_K rows · one Q8_K token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotScaleMinArm<TLayout, TDot>(byte* group, byte* activations, int n, float* y)
        where TLayout : IScaleMinLayout
        where TDot : IQuadDotArm
    {
        var a = (BlockQ8_K*)activations;
        var scales = stackalloc Vector128<int>[8];
        var mins = stackalloc Vector128<int>[8];
        Vector128<float> acc0 = default, acc1 = default;
        for (var b = 0; b < n / BlockQ4_K.Elements; b++, group += TLayout.GroupBlock, a++)
        {
            var (d0, d1) = ScalesArm(group);
            var (n0, n1) = ScalesArm(group + 16);
            Q4_KScaleMinsArm(group, 0, scales, mins);
            acc0 = Q4_KAccumulateArm(acc0, Q4_KSumArm<TLayout, TDot>(group, a, 0, scales), Q4_KMinsArm(mins, a), d0, n0, a->D);
            Q4_KScaleMinsArm(group, 1, scales, mins);
            acc1 = Q4_KAccumulateArm(acc1, Q4_KSumArm<TLayout, TDot>(group, a, 1, scales), Q4_KMinsArm(mins, a), d1, n1, a->D);
        }

        acc0.Store(y);
        acc1.Store(y + 4);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = the eight Q4_K rows · token t, for four Q8_K tokens <paramref name="stride"/> bytes
    /// apart: each half's scales, mins and nibble operands are unpacked once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4ScaleMinArm<TLayout, TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TLayout : IScaleMinLayout
        where TDot : IQuadDotArm
    {
        var scales = stackalloc Vector128<int>[8];
        var mins = stackalloc Vector128<int>[8];
        Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector128<float> b0 = default, b1 = default, b2 = default, b3 = default;
        BlockQ8_K* x0 = (BlockQ8_K*)activations, x1 = (BlockQ8_K*)(activations + stride), x2 = (BlockQ8_K*)(activations + (2 * stride)), x3 = (BlockQ8_K*)(activations + (3 * stride));
        for (var b = 0; b < n / BlockQ4_K.Elements; b++, group += TLayout.GroupBlock, x0++, x1++, x2++, x3++)
        {
            var (d0, d1) = ScalesArm(group);
            var (n0, n1) = ScalesArm(group + 16);
            Q4_KScaleMinsArm(group, 0, scales, mins);
            var (s0, s1, s2, s3) = Q4_KSums4Arm<TLayout, TDot>(group, 0, scales, x0, x1, x2, x3);
            a0 = Q4_KAccumulateArm(a0, s0, Q4_KMinsArm(mins, x0), d0, n0, x0->D);
            a1 = Q4_KAccumulateArm(a1, s1, Q4_KMinsArm(mins, x1), d0, n0, x1->D);
            a2 = Q4_KAccumulateArm(a2, s2, Q4_KMinsArm(mins, x2), d0, n0, x2->D);
            a3 = Q4_KAccumulateArm(a3, s3, Q4_KMinsArm(mins, x3), d0, n0, x3->D);
            Q4_KScaleMinsArm(group, 1, scales, mins);
            (s0, s1, s2, s3) = Q4_KSums4Arm<TLayout, TDot>(group, 1, scales, x0, x1, x2, x3);
            b0 = Q4_KAccumulateArm(b0, s0, Q4_KMinsArm(mins, x0), d1, n1, x0->D);
            b1 = Q4_KAccumulateArm(b1, s1, Q4_KMinsArm(mins, x1), d1, n1, x1->D);
            b2 = Q4_KAccumulateArm(b2, s2, Q4_KMinsArm(mins, x2), d1, n1, x2->D);
            b3 = Q4_KAccumulateArm(b3, s3, Q4_KMinsArm(mins, x3), d1, n1, x3->D);
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

    /// <summary>acc + s·d·d_a − m·dmin·d_a for one token and one half of the rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Q4_KAccumulateArm(Vector128<float> acc, Vector128<int> s, Vector128<int> m, Vector128<float> d, Vector128<float> dmin, float da)
    {
        var e = Vector128.Create(da);
        acc = AdvSimd.FusedMultiplyAdd(acc, AdvSimd.ConvertToSingle(s), d * e);
        return AdvSimd.FusedMultiplySubtract(acc, AdvSimd.ConvertToSingle(m), dmin * e);
    }

    /// <summary>Σ_g m_g · (Σ a of group g) for one token, from a half's unpacked mins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q4_KMinsArm(Vector128<int>* mins, BlockQ8_K* a)
    {
        var bs = a->Bsums;
        var m = Vector128<int>.Zero;
        for (var g = 0; g < 8; g++)
        {
            m = AdvSimd.MultiplyAdd(m, mins[g], Vector128.Create(bs[2 * g] + bs[(2 * g) + 1]));
        }

        return m;
    }

    /// <summary>Four tokens against one half of the rows: each pair of groups' sixteen nibble operands is unpacked once for the four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<int>, Vector128<int>, Vector128<int>, Vector128<int>) Q4_KSums4Arm<TLayout, TDot>(byte* group, int half, Vector128<int>* scales,
        BlockQ8_K* a0, BlockQ8_K* a1, BlockQ8_K* a2, BlockQ8_K* a3)
        where TLayout : IScaleMinLayout
        where TDot : IQuadDotArm
    {
        Vector128<int> s0 = default, s1 = default, s2 = default, s3 = default;
        for (var h = 0; h < 4; h++)
        {
            var q = group + TLayout.Quants + (256 * h) + (16 * half);
            var (e0, o0) = LevelsArm<TLayout>(group, q, 0, h, half);
            var (e1, o1) = LevelsArm<TLayout>(group, q, 1, h, half);
            var (e2, o2) = LevelsArm<TLayout>(group, q, 2, h, half);
            var (e3, o3) = LevelsArm<TLayout>(group, q, 3, h, half);
            var (e4, o4) = LevelsArm<TLayout>(group, q, 4, h, half);
            var (e5, o5) = LevelsArm<TLayout>(group, q, 5, h, half);
            var (e6, o6) = LevelsArm<TLayout>(group, q, 6, h, half);
            var (e7, o7) = LevelsArm<TLayout>(group, q, 7, h, half);
            var se = scales[2 * h];
            var so = scales[(2 * h) + 1];
            s0 = Q4_KPairArm<TDot>(s0, e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7, a0->Qs + (64 * h), se, so);
            s1 = Q4_KPairArm<TDot>(s1, e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7, a1->Qs + (64 * h), se, so);
            s2 = Q4_KPairArm<TDot>(s2, e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7, a2->Qs + (64 * h), se, so);
            s3 = Q4_KPairArm<TDot>(s3, e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7, a3->Qs + (64 * h), se, so);
        }

        return (s0, s1, s2, s3);
    }

    /// <summary>
    /// The eight groups' scales (<paramref name="scales"/>[g]) and mins (<paramref name="mins"/>[g]) of
    /// one half of the rows, one int32 per row lane, from the layout's scale bytes and min nibbles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KScaleMinsArm(byte* group, int half, Vector128<int>* scales, Vector128<int>* mins)
    {
        // tbl indices: lane j takes byte 2j (a scale byte of row j; +1 for the odd group) or byte j (a nibble byte), zero-extended.
        var pick2 = Vector128.Create(0xFFFFFF00u, 0xFFFFFF02u, 0xFFFFFF04u, 0xFFFFFF06u).AsByte();
        var pick1 = Vector128.Create(0xFFFFFF00u, 0xFFFFFF01u, 0xFFFFFF02u, 0xFFFFFF03u).AsByte();
        var one = Vector128.Create(0x00000001u).AsByte();
        for (var hp = 0; hp < 2; hp++)
        {
            var sm = AdvSimd.LoadVector128(group + Q4_KScales + (32 * hp) + (16 * half));
            var low6 = sm & Vector128.Create((byte)0x3F);
            var top = AdvSimd.ShiftLeftLogical(AdvSimd.ShiftRightLogical(sm, 6), 4);
            var nibbles = Vector128.CreateScalar(*(ulong*)(group + Q4_KMinNibbles + (16 * hp) + (8 * half))).AsByte();
            for (var hh = 0; hh < 2; hh++)
            {
                var g = 2 * ((2 * hp) + hh);
                var nb = AdvSimd.Arm64.VectorTableLookup(nibbles, pick1);
                scales[g] = AdvSimd.Arm64.VectorTableLookup(low6, pick2).AsInt32();
                scales[g + 1] = AdvSimd.Arm64.VectorTableLookup(low6, pick2 + one).AsInt32();
                mins[g] = ((nb & Vector128.Create((byte)0x0F)) | AdvSimd.Arm64.VectorTableLookup(top, pick2)).AsInt32();
                mins[g + 1] = (AdvSimd.ShiftRightLogical(nb, 4) | AdvSimd.Arm64.VectorTableLookup(top, pick2 + one)).AsInt32();
                low6 = AdvSimd.ExtractVector128(low6, Vector128<byte>.Zero, 8);
                top = AdvSimd.ExtractVector128(top, Vector128<byte>.Zero, 8);
                nibbles = AdvSimd.ExtractVector128(nibbles, Vector128<byte>.Zero, 4);
            }
        }
    }

    /// <summary>One token against one half of the rows, with that half's unpacked scales: the super-block's Σ_g sc_g · Σ q·a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q4_KSumArm<TLayout, TDot>(byte* group, BlockQ8_K* a, int half, Vector128<int>* scales)
        where TLayout : IScaleMinLayout
        where TDot : IQuadDotArm
    {
        var s = Vector128<int>.Zero;
        for (var h = 0; h < 4; h++)
        {
            var q = group + TLayout.Quants + (256 * h) + (16 * half);
            var (e0, o0) = LevelsArm<TLayout>(group, q, 0, h, half);
            var (e1, o1) = LevelsArm<TLayout>(group, q, 1, h, half);
            var (e2, o2) = LevelsArm<TLayout>(group, q, 2, h, half);
            var (e3, o3) = LevelsArm<TLayout>(group, q, 3, h, half);
            var (e4, o4) = LevelsArm<TLayout>(group, q, 4, h, half);
            var (e5, o5) = LevelsArm<TLayout>(group, q, 5, h, half);
            var (e6, o6) = LevelsArm<TLayout>(group, q, 6, h, half);
            var (e7, o7) = LevelsArm<TLayout>(group, q, 7, h, half);
            s = Q4_KPairArm<TDot>(s, e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7, a->Qs + (64 * h), scales[2 * h], scales[(2 * h) + 1]);
        }

        return s;
    }

    /// <summary>
    /// One token's groups 2h and 2h + 1 (activations at <paramref name="x"/>): s + sc_2h · Σ q·a over the even levels + sc_2h+1 · Σ q·a
    /// over the odd ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q4_KPairArm<TDot>(Vector128<int> s,
        Vector128<sbyte> e0, Vector128<sbyte> e1, Vector128<sbyte> e2, Vector128<sbyte> e3, Vector128<sbyte> e4, Vector128<sbyte> e5, Vector128<sbyte> e6, Vector128<sbyte> e7,
        Vector128<sbyte> o0, Vector128<sbyte> o1, Vector128<sbyte> o2, Vector128<sbyte> o3, Vector128<sbyte> o4, Vector128<sbyte> o5, Vector128<sbyte> o6, Vector128<sbyte> o7,
        sbyte* x, Vector128<int> se, Vector128<int> so)
        where TDot : IQuadDotArm
    {
        var even = TDot.Chain(Vector128<int>.Zero, e0, e1, e2, e3, e4, e5, e6, e7, AdvSimd.LoadVector128(x), AdvSimd.LoadVector128(x + 16));
        var odd = TDot.Chain(Vector128<int>.Zero, o0, o1, o2, o3, o4, o5, o6, o7, AdvSimd.LoadVector128(x + 32), AdvSimd.LoadVector128(x + 48));
        return AdvSimd.MultiplyAdd(AdvSimd.MultiplyAdd(s, even, se), odd, so);
    }

    /// <summary>
    /// The levels of operand k of groups 2h (low nibbles) and 2h + 1 (high nibbles) for one half of the rows, with
    /// Q5_K's fifth bits (bits 2h and 2h + 1 of the qh operand's bytes) as bit 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte> Even, Vector128<sbyte> Odd) LevelsArm<TLayout>(byte* group, byte* q, int k, int h, int half)
        where TLayout : IScaleMinLayout
    {
        var w = AdvSimd.LoadVector128(q + (32 * k));
        var even = w & Vector128.Create((byte)0x0F);
        var odd = AdvSimd.ShiftRightLogical(w, 4);
        if (TLayout.FifthBits)
        {
            var qh = AdvSimd.LoadVector128(group + Q5_KHigh + (32 * k) + (16 * half));
            even |= AdvSimd.ShiftLogical(qh, Vector128.Create((sbyte)(4 - (2 * h)))) & Vector128.Create((byte)0x10);
            odd |= AdvSimd.ShiftLogical(qh, Vector128.Create((sbyte)(3 - (2 * h)))) & Vector128.Create((byte)0x10);
        }

        return (even.AsSByte(), odd.AsSByte());
    }
}
