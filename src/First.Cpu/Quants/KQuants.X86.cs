using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>Adds Σ of two int16 products per int32 lane to an accumulator.</summary>
internal interface IWordDotAccumulate
{
    static abstract Vector256<int> Accumulate(Vector256<int> acc, Vector256<short> x, Vector256<short> y);
}

/// <summary>AVX2: vpmaddwd, then vpaddd.</summary>
internal readonly struct MaddWordAccumulate : IWordDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<short> x, Vector256<short> y) => acc + Avx2.MultiplyAddAdjacent(x, y);
}

/// <summary>AVX-VNNI: vpdpwssd.</summary>
internal readonly struct VnniWordAccumulate : IWordDotAccumulate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Accumulate(Vector256<int> acc, Vector256<short> x, Vector256<short> y) => AvxVnni.MultiplyWideningAndAdd(acc, x, y);
}

/// <summary>
/// The K-quant dot products with Q8_K activations on x86, summing in integers as ggml does: each group's
/// unsigned quants times the activations through vpmaddubsw (pairs of products in int16, no overflow: at
/// most 2·63·128), times the group's scale through vpmaddwd or vpdpwssd into int32 lanes; the offsets
/// (Q4_K's mins, Q6_K's −32) come from the activations' sums of 16. One conversion and multiply-add by
/// d·d_a per super-block. Results are the scalar twins' within float rounding.
/// </summary>
internal static unsafe class KQuantsX86
{
    /// <summary>Q4_K · Q8_K.</summary>
    public static float DotQ4_K<TAcc>(void* weights, void* activations, int n)
        where TAcc : IWordDotAccumulate =>
        DotScaleMin<TAcc>((byte*)weights, BlockQ4_K.Size, 16, -1, (BlockQ8_K*)activations, n);

    /// <summary>Q5_K · Q8_K.</summary>
    public static float DotQ5_K<TAcc>(void* weights, void* activations, int n)
        where TAcc : IWordDotAccumulate =>
        DotScaleMin<TAcc>((byte*)weights, BlockQ5_K.Size, 48, 16, (BlockQ8_K*)activations, n);

    /// <summary>
    /// The formats with a half d and dmin, six-bit scales and mins for eight groups of 32 (bytes 0..15 of the
    /// block), nibbles at <paramref name="qsOffset"/> and, for Q5_K, each value's fifth bit at
    /// <paramref name="qhOffset"/> (bit g of byte l for value l of group g; −1: none).
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotScaleMin<TAcc>(byte* w, int blockBytes, int qsOffset, int qhOffset, BlockQ8_K* a, int n)
        where TAcc : IWordDotAccumulate
    {
        var scales = stackalloc short[8];
        var mask = Vector256.Create((byte)0x0F);
        var one = Vector256.Create((byte)0x01);
        Vector256<float> acc = default;
        var mins = 0f;
        for (var i = 0; i < n / 256; i++, w += blockBytes, a++)
        {
            var msum = 0;
            for (var g = 0; g < 8; g++)
            {
                KQuants.ScaleMin(g, w + 4, out var sc, out var m);
                scales[g] = sc;
                msum += m * (a->Bsums[2 * g] + a->Bsums[(2 * g) + 1]);
            }

            var s = Vector256<int>.Zero;
            var q = w + qsOffset;
            var x = a->Qs;
            var high = qhOffset < 0 ? default : Avx.LoadVector256(w + qhOffset);
            for (var j = 0; j < 4; j++, q += 32, x += 64)
            {
                var bytes = Avx.LoadVector256(q);
                var v0 = bytes & mask;
                var v1 = Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & mask;
                if (qhOffset >= 0)
                {
                    // Bit g of each qh byte to bit 4 of value l of group g: `high` is shifted one bit per group
                    // (16-bit lanes, then masked per byte, so no bit crosses into a neighbouring byte).
                    v0 |= Avx2.ShiftLeftLogical((high & one).AsUInt16(), 4).AsByte();
                    high = Avx2.ShiftRightLogical(high.AsUInt16(), 1).AsByte();
                    v1 |= Avx2.ShiftLeftLogical((high & one).AsUInt16(), 4).AsByte();
                    high = Avx2.ShiftRightLogical(high.AsUInt16(), 1).AsByte();
                }

                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(x)), Vector256.Create(scales[2 * j]));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(x + 32)), Vector256.Create(scales[(2 * j) + 1]));
            }

            var da = a->D;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Vector256.Create(Fp16.ToFloat(*(ushort*)w) * da), acc);
            mins += Fp16.ToFloat(*(ushort*)(w + 2)) * da * msum;
        }

        return Vector256.Sum(acc) - mins;
    }

    /// <summary>Q6_K · Q8_K.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ6_K<TAcc>(void* weights, void* activations, int n)
        where TAcc : IWordDotAccumulate
    {
        var w = (BlockQ6_K*)weights;
        var a = (BlockQ8_K*)activations;
        var low4 = Vector256.Create((byte)0x0F);
        var bits45 = Vector256.Create((byte)0x30);
        Vector256<float> acc = default;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, w++, a++)
        {
            // Sixteen int8 scales as int16: the lower 128 bits hold groups 0..7 (the first 128 values), the upper 8..15.
            var scales = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(w->Scales));

            // −32 · Σ_g sc_g · (Σ a of group g), the offset of the stored levels 0..63.
            var s = Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a->Bsums), scales), 5);
            s = Vector256<int>.Zero - s;

            var ql = w->Ql;
            var qh = w->Qh;
            var x = a->Qs;
            for (var h = 0; h < 2; h++, ql += 64, qh += 32, x += 128)
            {
                // This half's eight scales in both 128-bit lanes, then for each quarter of 32 values: its two
                // groups' scales, eight lanes each (a 128-bit lane of int16 is eight lanes).
                var half = (h == 0 ? Avx2.Permute4x64(scales.AsInt64(), 0b01_00_01_00) : Avx2.Permute4x64(scales.AsInt64(), 0b11_10_11_10)).AsInt16();
                var l0 = Avx.LoadVector256(ql);
                var l1 = Avx.LoadVector256(ql + 32);
                var hb = Avx.LoadVector256(qh);

                // Levels per ggml's dequantize_row_q6_K: low nibbles of ql and bits 0-1 of qh for values 0..31, ….
                var v0 = (l0 & low4) | (Avx2.ShiftLeftLogical(hb.AsUInt16(), 4).AsByte() & bits45);
                var v1 = (l1 & low4) | (Avx2.ShiftLeftLogical(hb.AsUInt16(), 2).AsByte() & bits45);
                var v2 = (Avx2.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & low4) | (hb & bits45);
                var v3 = (Avx2.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & low4) | (Avx2.ShiftRightLogical(hb.AsUInt16(), 2).AsByte() & bits45);

                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(x)), GroupScales(half, 0));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(x + 32)), GroupScales(half, 1));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(x + 64)), GroupScales(half, 2));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(x + 96)), GroupScales(half, 3));
            }

            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Vector256.Create(Fp16.ToFloat(w->D) * a->D), acc);
        }

        return Vector256.Sum(acc);
    }

    /// <summary>Scales 2k (lower eight int16 lanes) and 2k + 1 (upper eight) of a half's eight, held in both 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> GroupScales(Vector256<short> half, int k)
    {
        // vpshufb picks bytes within each 128-bit lane: the lower lane repeats int16 number 2k, the upper 2k + 1.
        var lo = (byte)(4 * k);
        var hi = (byte)((4 * k) + 2);
        var pick = Vector256.Create(
            lo, (byte)(lo + 1), lo, (byte)(lo + 1), lo, (byte)(lo + 1), lo, (byte)(lo + 1),
            lo, (byte)(lo + 1), lo, (byte)(lo + 1), lo, (byte)(lo + 1), lo, (byte)(lo + 1),
            hi, (byte)(hi + 1), hi, (byte)(hi + 1), hi, (byte)(hi + 1), hi, (byte)(hi + 1),
            hi, (byte)(hi + 1), hi, (byte)(hi + 1), hi, (byte)(hi + 1), hi, (byte)(hi + 1));
        return Avx2.Shuffle(half.AsByte(), pick).AsInt16();
    }
}
