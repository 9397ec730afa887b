using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// The K-quant dot products with Q8_K activations on arm64: each group's quants (0..15 or 0..63, valid as
/// signed bytes) times the activations through sdot or NEON widening multiplies, times the group's scale
/// into int32 lanes; the offsets (Q4_K's mins, Q6_K's −32) from the activations' sums of 16. A super-block's
/// integer sum is then taken into float exactly as the scalar twin does, so the results are its own.
/// </summary>
internal static unsafe class KQuantsArm
{
    /// <summary>Q4_K · Q8_K.</summary>
    public static float DotQ4_K<TDot>(void* weights, void* activations, int n)
        where TDot : ISignedDotArm =>
        DotScaleMin<TDot>((byte*)weights, BlockQ4_K.Size, 16, -1, (BlockQ8_K*)activations, n);

    /// <summary>Q5_K · Q8_K.</summary>
    public static float DotQ5_K<TDot>(void* weights, void* activations, int n)
        where TDot : ISignedDotArm =>
        DotScaleMin<TDot>((byte*)weights, BlockQ5_K.Size, 48, 16, (BlockQ8_K*)activations, n);

    /// <summary>The formats with six-bit scales and mins (see the x86 twin, KQuantsX86.DotScaleMin).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotScaleMin<TDot>(byte* w, int blockBytes, int qsOffset, int qhOffset, BlockQ8_K* a, int n)
        where TDot : ISignedDotArm
    {
        var mask = Vector128.Create((byte)0x0F);
        var one = Vector128.Create((byte)0x01);
        var sum = 0f;
        for (var i = 0; i < n / 256; i++, w += blockBytes, a++)
        {
            var s = Vector128<int>.Zero;
            var msum = 0;
            var q = w + qsOffset;
            var x = a->Qs;
            Vector128<byte> h0 = default, h1 = default;
            if (qhOffset >= 0)
            {
                h0 = AdvSimd.LoadVector128(w + qhOffset);
                h1 = AdvSimd.LoadVector128(w + qhOffset + 16);
            }

            for (var j = 0; j < 4; j++, q += 32, x += 64)
            {
                KQuants.ScaleMin(2 * j, w + 4, out var sc0, out var m0);
                KQuants.ScaleMin((2 * j) + 1, w + 4, out var sc1, out var m1);
                msum += (m0 * (a->Bsums[4 * j] + a->Bsums[(4 * j) + 1])) + (m1 * (a->Bsums[(4 * j) + 2] + a->Bsums[(4 * j) + 3]));
                var b0 = AdvSimd.LoadVector128(q);
                var b1 = AdvSimd.LoadVector128(q + 16);
                var l0 = b0 & mask;
                var l1 = b1 & mask;
                var u0 = AdvSimd.ShiftRightLogical(b0, 4);
                var u1 = AdvSimd.ShiftRightLogical(b1, 4);
                if (qhOffset >= 0)
                {
                    // Bit g of qh byte l is the fifth bit of value l of group g: one bit per group, in order.
                    l0 |= AdvSimd.ShiftLeftLogical(h0 & one, 4);
                    l1 |= AdvSimd.ShiftLeftLogical(h1 & one, 4);
                    h0 = AdvSimd.ShiftRightLogical(h0, 1);
                    h1 = AdvSimd.ShiftRightLogical(h1, 1);
                    u0 |= AdvSimd.ShiftLeftLogical(h0 & one, 4);
                    u1 |= AdvSimd.ShiftLeftLogical(h1 & one, 4);
                    h0 = AdvSimd.ShiftRightLogical(h0, 1);
                    h1 = AdvSimd.ShiftRightLogical(h1, 1);
                }

                var low = TDot.Dot(l0.AsSByte(), l1.AsSByte(), AdvSimd.LoadVector128(x), AdvSimd.LoadVector128(x + 16));
                var high = TDot.Dot(u0.AsSByte(), u1.AsSByte(), AdvSimd.LoadVector128(x + 32), AdvSimd.LoadVector128(x + 48));
                s = AdvSimd.MultiplyAdd(s, low, Vector128.Create((int)sc0));
                s = AdvSimd.MultiplyAdd(s, high, Vector128.Create((int)sc1));
            }

            var da = a->D;
            sum += (Fp16.ToFloat(*(ushort*)w) * da * Vector128.Sum(s)) - (Fp16.ToFloat(*(ushort*)(w + 2)) * da * msum);
        }

        return sum;
    }

    /// <summary>Q6_K · Q8_K.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ6_K<TDot>(void* weights, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var w = (BlockQ6_K*)weights;
        var a = (BlockQ8_K*)activations;
        var low4 = Vector128.Create((byte)0x0F);
        var bits45 = Vector128.Create((byte)0x30);
        var sum = 0f;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, w++, a++)
        {
            // The stored levels are q + 32: −32 · Σ_g sc_g · (Σ a of group g) takes that back.
            var offset = 0;
            for (var g = 0; g < 16; g++)
            {
                offset += w->Scales[g] * a->Bsums[g];
            }

            var s = Vector128<int>.Zero;
            var ql = w->Ql;
            var qh = w->Qh;
            var x = a->Qs;
            var sc = w->Scales;
            for (var h = 0; h < 2; h++, ql += 64, qh += 32, x += 128, sc += 8)
            {
                // Levels per ggml's dequantize_row_q6_K, sixteen at a time: value c·16 + l of each quarter of 32.
                for (var c = 0; c < 2; c++)
                {
                    var l0 = AdvSimd.LoadVector128(ql + (16 * c));
                    var l1 = AdvSimd.LoadVector128(ql + 32 + (16 * c));
                    var hb = AdvSimd.LoadVector128(qh + (16 * c));
                    var v0 = (l0 & low4) | (AdvSimd.ShiftLeftLogical(hb, 4) & bits45);
                    var v1 = (l1 & low4) | (AdvSimd.ShiftLeftLogical(hb, 2) & bits45);
                    var v2 = AdvSimd.ShiftRightLogical(l0, 4) | (hb & bits45);
                    var v3 = AdvSimd.ShiftRightLogical(l1, 4) | (AdvSimd.ShiftRightLogical(hb, 2) & bits45);
                    var y = (sbyte*)x + (16 * c);
                    s = AdvSimd.MultiplyAdd(s, TDot.Dot16(v0.AsSByte(), AdvSimd.LoadVector128(y)), Vector128.Create((int)sc[c]));
                    s = AdvSimd.MultiplyAdd(s, TDot.Dot16(v1.AsSByte(), AdvSimd.LoadVector128(y + 32)), Vector128.Create((int)sc[2 + c]));
                    s = AdvSimd.MultiplyAdd(s, TDot.Dot16(v2.AsSByte(), AdvSimd.LoadVector128(y + 64)), Vector128.Create((int)sc[4 + c]));
                    s = AdvSimd.MultiplyAdd(s, TDot.Dot16(v3.AsSByte(), AdvSimd.LoadVector128(y + 96)), Vector128.Create((int)sc[6 + c]));
                }
            }

            sum += Fp16.ToFloat(w->D) * a->D * (Vector128.Sum(s) - (32 * offset));
        }

        return sum;
    }
}
