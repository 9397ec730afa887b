using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// The arm64 products of eight interleaved Q6_K rows with Q8_K activations (sdot or plain NEON: <see cref="IQuadDotArm"/>):
/// each half of the rows (the first or second 16 bytes of every 32-byte unit) is one register; sdot by element
/// (or its NEON equivalent) per operand of six-bit levels, mla by the groups' signed scales, and the offset 32 from the activations' sums
/// of 16, as on x86.
/// </summary>
public static unsafe partial class Interleaved8
{
    /// <summary>y[0..7] = the eight Q6_K rows · one Q8_K token.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void DotQ6_KArm<TDot>(byte* group, byte* activations, int n, float* y)
        where TDot : IQuadDotArm
    {
        var a = (BlockQ8_K*)activations;
        var scales = stackalloc Vector128<int>[16];
        Vector128<float> acc0 = default, acc1 = default;
        for (var b = 0; b < n / BlockQ6_K.Elements; b++, group += Q6_KGroupBlock, a++)
        {
            var da = Vector128.Create(a->D);
            var (d0, d1) = ScalesArm(group);
            Q6_KScalesArm(group, 0, scales);
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(Q6_KSumArm<TDot>(group, 0, scales, a)), d0 * da);
            Q6_KScalesArm(group, 1, scales);
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(Q6_KSumArm<TDot>(group, 1, scales, a)), d1 * da);
        }

        acc0.Store(y);
        acc1.Store(y + 4);
    }

    /// <summary>
    /// y[t·yStride + 0..7] = the eight Q6_K rows · token t, for four Q8_K tokens <paramref name="stride"/> bytes
    /// apart: each quarter's levels are made once for the four.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Dot4Q6_KArm<TDot>(byte* group, byte* activations, int stride, int n, float* y, int yStride)
        where TDot : IQuadDotArm
    {
        var scales = stackalloc Vector128<int>[16];
        BlockQ8_K* x0 = (BlockQ8_K*)activations, x1 = (BlockQ8_K*)(activations + stride), x2 = (BlockQ8_K*)(activations + (2 * stride)), x3 = (BlockQ8_K*)(activations + (3 * stride));
        ClearOutputs(y, yStride);

        for (var b = 0; b < n / BlockQ6_K.Elements; b++, group += Q6_KGroupBlock, x0++, x1++, x2++, x3++)
        {
            var (dLow, dHigh) = ScalesArm(group);
            for (var half = 0; half < 2; half++)
            {
                Q6_KScalesArm(group, half, scales);
                var s0 = Q6_KOffsetArm(scales, x0);
                var s1 = Q6_KOffsetArm(scales, x1);
                var s2 = Q6_KOffsetArm(scales, x2);
                var s3 = Q6_KOffsetArm(scales, x3);
                for (var h = 0; h < 2; h++)
                {
                    var q = group + Q6_KTriple(h, 0) + (16 * half);
                    for (var i = 0; i < 4; i++)
                    {
                        var (l0, l1, l2, l3, l4, l5, l6, l7) = Q6_KQuarterLevelsArm(q, i);
                        var se = scales[2 * ((4 * h) + i)];
                        var so = scales[(2 * ((4 * h) + i)) + 1];
                        var o = (128 * h) + (32 * i);
                        s0 = Q6_KQuarterArm<TDot>(s0, l0, l1, l2, l3, l4, l5, l6, l7, x0->Qs + o, se, so);
                        s1 = Q6_KQuarterArm<TDot>(s1, l0, l1, l2, l3, l4, l5, l6, l7, x1->Qs + o, se, so);
                        s2 = Q6_KQuarterArm<TDot>(s2, l0, l1, l2, l3, l4, l5, l6, l7, x2->Qs + o, se, so);
                        s3 = Q6_KQuarterArm<TDot>(s3, l0, l1, l2, l3, l4, l5, l6, l7, x3->Qs + o, se, so);
                    }
                }

                var d = half == 0 ? dLow : dHigh;
                var yo = y + (4 * half);
                AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(yo), AdvSimd.ConvertToSingle(s0), d * Vector128.Create(x0->D)).Store(yo);
                AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(yo + yStride), AdvSimd.ConvertToSingle(s1), d * Vector128.Create(x1->D)).Store(yo + yStride);
                AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(yo + (2 * yStride)), AdvSimd.ConvertToSingle(s2), d * Vector128.Create(x2->D)).Store(yo + (2 * yStride));
                AdvSimd.FusedMultiplyAdd(AdvSimd.LoadVector128(yo + (3 * yStride)), AdvSimd.ConvertToSingle(s3), d * Vector128.Create(x3->D)).Store(yo + (3 * yStride));
            }
        }
    }

    /// <summary>One token against one half of the rows: the super-block's integer sum, offset included.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q6_KSumArm<TDot>(byte* group, int half, Vector128<int>* scales, BlockQ8_K* a)
        where TDot : IQuadDotArm
    {
        var s = Q6_KOffsetArm(scales, a);
        for (var h = 0; h < 2; h++)
        {
            var q = group + Q6_KTriple(h, 0) + (16 * half);
            for (var i = 0; i < 4; i++)
            {
                var (l0, l1, l2, l3, l4, l5, l6, l7) = Q6_KQuarterLevelsArm(q, i);
                var p = (4 * h) + i;
                s = Q6_KQuarterArm<TDot>(s, l0, l1, l2, l3, l4, l5, l6, l7, a->Qs + (32 * p), scales[2 * p], scales[(2 * p) + 1]);
            }
        }

        return s;
    }

    /// <summary>−32 · Σ_g sc_g · (Σ a of group g): where a token's sum starts, for the levels' offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q6_KOffsetArm(Vector128<int>* scales, BlockQ8_K* a)
    {
        var bs = a->Bsums;
        var o = Vector128<int>.Zero;
        for (var g = 0; g < 16; g++)
        {
            o = AdvSimd.MultiplyAdd(o, scales[g], Vector128.Create((int)bs[g]));
        }

        return Vector128<int>.Zero - (o << 5);
    }

    /// <summary>The sixteen groups' signed scales of one half of the rows, one int32 per row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KScalesArm(byte* group, int half, Vector128<int>* scales)
    {
        for (var p = 0; p < 8; p++)
        {
            // Rows 4·half .. +3, each an (sc_2p, sc_2p+1) pair: sign-extended to int16, one pair per int32 lane.
            var pair = AdvSimd.SignExtendWideningLower(Vector64.Load((sbyte*)group + Q6_KScales + (16 * p) + (8 * half))).AsInt32();
            scales[2 * p] = (pair << 16) >> 16;
            scales[(2 * p) + 1] = pair >> 16;
        }
    }

    /// <summary>The levels of quarter <paramref name="i"/> (values 4k..4k+3 for k = 0..7), from the triples at <paramref name="q"/> (one half's bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>, Vector128<sbyte>) Q6_KQuarterLevelsArm(byte* q, int i) =>
        (Q6_KLevelsArm(q, i), Q6_KLevelsArm(q + 96, i), Q6_KLevelsArm(q + 192, i), Q6_KLevelsArm(q + 288, i),
         Q6_KLevelsArm(q + 384, i), Q6_KLevelsArm(q + 480, i), Q6_KLevelsArm(q + 576, i), Q6_KLevelsArm(q + 672, i));

    /// <summary>One quarter of one token: the even group (values 0..15) times its scale plus the odd one (16..31) times its own.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Q6_KQuarterArm<TDot>(Vector128<int> s, Vector128<sbyte> l0, Vector128<sbyte> l1, Vector128<sbyte> l2, Vector128<sbyte> l3,
        Vector128<sbyte> l4, Vector128<sbyte> l5, Vector128<sbyte> l6, Vector128<sbyte> l7, sbyte* x, Vector128<int> se, Vector128<int> so)
        where TDot : IQuadDotArm
    {
        var even = TDot.Quads(Vector128<int>.Zero, l0, l1, l2, l3, AdvSimd.LoadVector128(x));
        var odd = TDot.Quads(Vector128<int>.Zero, l4, l5, l6, l7, AdvSimd.LoadVector128(x + 16));
        return AdvSimd.MultiplyAdd(AdvSimd.MultiplyAdd(s, even, se), odd, so);
    }

    /// <summary>Six-bit levels of quarter <paramref name="i"/> from one half's bytes of an operand triple (ql at +0 or +32, qh at +64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<sbyte> Q6_KLevelsArm(byte* triple, int i) =>
        KQuantsArm.Q6Level(AdvSimd.LoadVector128(triple + (32 * (i & 1))), AdvSimd.LoadVector128(triple + 64), i).AsSByte();
}
