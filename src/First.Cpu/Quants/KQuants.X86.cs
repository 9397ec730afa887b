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
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)] // inlined into a wrapper at tier 1, helpers were left as calls
    private static float DotScaleMin<TAcc>(byte* w, int blockBytes, int qsOffset, int qhOffset, BlockQ8_K* a, int n)
        where TAcc : IWordDotAccumulate
    {
        Vector256<float> acc = default, mins = default;
        for (var i = 0; i < n / 256; i++, w += blockBytes, a++)
        {
            var (sc, mb) = UnpackScaleMins((uint*)(w + 4));

            // Σ_g m_g · (Σ a of group g): the sums of 16 against each min twice, in eight int32 lanes.
            var m = Sse41.ConvertToVector128Int16(mb);
            var twice = Vector256.Create(Sse2.UnpackLow(m, m), Sse2.UnpackHigh(m, m));
            var msum = Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a->Bsums), twice);

            // Two sums (even and odd groups), so that each waits on four multiply-adds rather than eight.
            Vector256<int> s = default, t = default;
            var q = w + qsOffset;
            var x = a->Qs;
            var high = qhOffset < 0 ? default : Avx.LoadVector256(w + qhOffset);
            for (var j = 0; j < 4; j++, q += 32, x += 64)
            {
                var (v0, v1) = ScaleMinLevels(q, qhOffset >= 0, ref high);

                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(x)), Vector256.Create((short)(byte)(sc >> (16 * j))));
                t = TAcc.Accumulate(t, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(x + 32)), Vector256.Create((short)(byte)(sc >> ((16 * j) + 8))));
            }

            var da = a->D;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s + t), Vector256.Create(Fp16.ToFloat(*(ushort*)w) * da), acc);
            mins = Fma.MultiplyAdd(Avx.ConvertToVector256Single(msum), Vector256.Create(Fp16.ToFloat(*(ushort*)(w + 2)) * da), mins);
        }

        return Vector256.Sum(acc) - Vector256.Sum(mins);
    }

    /// <summary>
    /// The levels of a pair of Q4_K/Q5_K groups (even, odd) from 32 bytes of nibbles; with <paramref name="fifthBits"/>,
    /// bit g of each byte of <paramref name="high"/> (Q5_K's qh) is bit 4 of value l of group g. <paramref name="high"/>
    /// is shifted one bit per group (16-bit lanes, then masked per byte, so no bit crosses into a neighbouring byte).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<byte> Even, Vector256<byte> Odd) ScaleMinLevels(byte* q, bool fifthBits, ref Vector256<byte> high)
    {
        var bytes = Avx.LoadVector256(q);
        var even = bytes & Vector256.Create((byte)0x0F);
        var odd = Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
        if (fifthBits)
        {
            var one = Vector256.Create((byte)0x01);
            even |= Avx2.ShiftLeftLogical((high & one).AsUInt16(), 4).AsByte();
            high = Avx2.ShiftRightLogical(high.AsUInt16(), 1).AsByte();
            odd |= Avx2.ShiftLeftLogical((high & one).AsUInt16(), 4).AsByte();
            high = Avx2.ShiftRightLogical(high.AsUInt16(), 1).AsByte();
        }

        return (even, odd);
    }

    /// <summary>
    /// The 128 six-bit levels of half a Q6_K block, 32 at a time, per ggml's dequantize_row_q6_K: low nibbles of
    /// ql with bits 0-1 of qh for values 0..31, low nibbles of ql + 32 with bits 2-3 for 32..63, high nibbles of
    /// ql with bits 4-5 for 64..95, high nibbles of ql + 32 with bits 6-7 for 96..127.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<byte>, Vector256<byte>, Vector256<byte>, Vector256<byte>) Q6Levels(byte* ql, byte* qh)
    {
        var l0 = Avx.LoadVector256(ql);
        var l1 = Avx.LoadVector256(ql + 32);
        var hb = Avx.LoadVector256(qh);
        return (Q6Level(l0, hb, 0), Q6Level(l1, hb, 1), Q6Level(l0, hb, 2), Q6Level(l1, hb, 3));
    }

    /// <summary>
    /// Quarter <paramref name="i"/>'s levels (of <see cref="Q6Levels"/>) from its 32 ql bytes <paramref name="ql"/> (those at ql for
    /// quarters 0 and 2, at ql + 32 for 1 and 3) and the 32 qh bytes: low (i &lt; 2) or high nibbles, with qh's bits 2i, 2i + 1 as bits 4-5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Q6Level(Vector256<byte> ql, Vector256<byte> qh, int i)
    {
        var low4 = Vector256.Create((byte)0x0F);
        var nibbles = i < 2 ? ql & low4 : Avx2.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & low4;
        var bits = i switch
        {
            0 => Avx2.ShiftLeftLogical(qh.AsUInt16(), 4),
            1 => Avx2.ShiftLeftLogical(qh.AsUInt16(), 2),
            2 => qh.AsUInt16(),
            _ => Avx2.ShiftRightLogical(qh.AsUInt16(), 2),
        };
        return nibbles | (bits.AsByte() & Vector256.Create((byte)0x30));
    }

    /// <summary>
    /// The twelve bytes of six-bit scales and mins (<see cref="KQuants.ScaleMin"/>) unpacked: the eight scales as
    /// the bytes of a word (scale g in bits 8g..8g+7), the eight mins in the low bytes of a vector. Kept in
    /// registers: eight bytes loaded back from two word stores would wait instead of being forwarded. Word arithmetic as in ggml's x86 Q4_K kernel (ggml-cpu/arch/x86/quants.c,
    /// its kmask1/2/3 = 0x3f3f3f3f, 0x0f0f0f0f, 0x03030303).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (ulong Scales, Vector128<byte> Mins) UnpackScaleMins(uint* packed)
    {
        uint p0 = packed[0], p1 = packed[1], p2 = packed[2];
        var scales = (p0 & 0x3f3f3f3f) | ((ulong)((p2 & 0x0f0f0f0f) | (((p0 >> 6) & 0x03030303) << 4)) << 32);
        var mins = Vector128.Create(p1 & 0x3f3f3f3f, ((p2 >> 4) & 0x0f0f0f0f) | (((p1 >> 6) & 0x03030303) << 4), 0u, 0u).AsByte();
        return (scales, mins);
    }

    /// <summary>Q6_K · Q8_K.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float DotQ6_K<TAcc>(void* weights, void* activations, int n)
        where TAcc : IWordDotAccumulate
    {
        var w = (BlockQ6_K*)weights;
        var a = (BlockQ8_K*)activations;
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
            var sc = w->Scales;
            for (var h = 0; h < 2; h++, ql += 64, qh += 32, x += 128, sc += 8)
            {
                var (v0, v1, v2, v3) = Q6Levels(ql, qh);

                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(x)), Pair(sc, 0));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(x + 32)), Pair(sc, 2));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(x + 64)), Pair(sc, 4));
                s = TAcc.Accumulate(s, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(x + 96)), Pair(sc, 6));
            }

            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s), Vector256.Create(Fp16.ToFloat(w->D) * a->D), acc);
        }

        return Vector256.Sum(acc);
    }

    /// <summary>Q4_K · four tokens (<paramref name="stride"/> bytes apart): each block's scales and quants unpacked once for the four.</summary>
    public static void Dot4Q4_K<TAcc>(void* weights, void* activations, int stride, int n, float* output)
        where TAcc : IWordDotAccumulate =>
        Dot4ScaleMin<TAcc>((byte*)weights, BlockQ4_K.Size, 16, -1, (byte*)activations, stride, n, output);

    /// <summary>Q5_K · four tokens.</summary>
    public static void Dot4Q5_K<TAcc>(void* weights, void* activations, int stride, int n, float* output)
        where TAcc : IWordDotAccumulate =>
        Dot4ScaleMin<TAcc>((byte*)weights, BlockQ5_K.Size, 48, 16, (byte*)activations, stride, n, output);

    /// <summary>As <see cref="DotScaleMin{TAcc}"/> for four tokens.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Dot4ScaleMin<TAcc>(byte* w, int blockBytes, int qsOffset, int qhOffset, byte* activations, int stride, int n, float* output)
        where TAcc : IWordDotAccumulate
    {
        BlockQ8_K* a0 = (BlockQ8_K*)activations, a1 = (BlockQ8_K*)(activations + stride), a2 = (BlockQ8_K*)(activations + (2 * stride)), a3 = (BlockQ8_K*)(activations + (3 * stride));
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> min0 = default, min1 = default, min2 = default, min3 = default;
        for (var i = 0; i < n / 256; i++, w += blockBytes, a0++, a1++, a2++, a3++)
        {
            var (sc, mb) = UnpackScaleMins((uint*)(w + 4));
            var m = Sse41.ConvertToVector128Int16(mb);
            var twice = Vector256.Create(Sse2.UnpackLow(m, m), Sse2.UnpackHigh(m, m));
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            var q = w + qsOffset;
            var high = qhOffset < 0 ? default : Avx.LoadVector256(w + qhOffset);
            for (var j = 0; j < 4; j++, q += 32)
            {
                var (v0, v1) = ScaleMinLevels(q, qhOffset >= 0, ref high);

                var c0 = Vector256.Create((short)(byte)(sc >> (16 * j)));
                var c1 = Vector256.Create((short)(byte)(sc >> ((16 * j) + 8)));
                var x = 64 * j;
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a0->Qs + x)), c0);
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a0->Qs + x + 32)), c1);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a1->Qs + x)), c0);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a1->Qs + x + 32)), c1);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a2->Qs + x)), c0);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a2->Qs + x + 32)), c1);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a3->Qs + x)), c0);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a3->Qs + x + 32)), c1);
            }

            var d = Fp16.ToFloat(*(ushort*)w);
            var dmin = Fp16.ToFloat(*(ushort*)(w + 2));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(d * a0->D), acc0);
            min0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a0->Bsums), twice)), Vector256.Create(dmin * a0->D), min0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(d * a1->D), acc1);
            min1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a1->Bsums), twice)), Vector256.Create(dmin * a1->D), min1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(d * a2->D), acc2);
            min2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a2->Bsums), twice)), Vector256.Create(dmin * a2->D), min2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(d * a3->D), acc3);
            min3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a3->Bsums), twice)), Vector256.Create(dmin * a3->D), min3);
        }

        output[0] = Vector256.Sum(acc0) - Vector256.Sum(min0);
        output[1] = Vector256.Sum(acc1) - Vector256.Sum(min1);
        output[2] = Vector256.Sum(acc2) - Vector256.Sum(min2);
        output[3] = Vector256.Sum(acc3) - Vector256.Sum(min3);
    }


    /// <summary>Q6_K · four tokens (<paramref name="stride"/> bytes apart): each block's levels unpacked once for the four.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void Dot4Q6_K<TAcc>(void* weights, void* activations, int stride, int n, float* output)
        where TAcc : IWordDotAccumulate
    {
        var w = (BlockQ6_K*)weights;
        var act = (byte*)activations;
        BlockQ8_K* a0 = (BlockQ8_K*)act, a1 = (BlockQ8_K*)(act + stride), a2 = (BlockQ8_K*)(act + (2 * stride)), a3 = (BlockQ8_K*)(act + (3 * stride));
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, w++, a0++, a1++, a2++, a3++)
        {
            var scales = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(w->Scales));
            var s0 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a0->Bsums), scales), 5);
            var s1 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a1->Bsums), scales), 5);
            var s2 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a2->Bsums), scales), 5);
            var s3 = Vector256<int>.Zero - Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a3->Bsums), scales), 5);
            var ql = w->Ql;
            var qh = w->Qh;
            var sc = w->Scales;
            for (var h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8)
            {
                var (v0, v1, v2, v3) = Q6Levels(ql, qh);
                var c0 = Pair(sc, 0);
                var c1 = Pair(sc, 2);
                var c2 = Pair(sc, 4);
                var c3 = Pair(sc, 6);
                var x = 128 * h;
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a0->Qs + x + 0)), c0);
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a0->Qs + x + 32)), c1);
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(a0->Qs + x + 64)), c2);
                s0 = TAcc.Accumulate(s0, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(a0->Qs + x + 96)), c3);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a1->Qs + x + 0)), c0);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a1->Qs + x + 32)), c1);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(a1->Qs + x + 64)), c2);
                s1 = TAcc.Accumulate(s1, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(a1->Qs + x + 96)), c3);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a2->Qs + x + 0)), c0);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a2->Qs + x + 32)), c1);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(a2->Qs + x + 64)), c2);
                s2 = TAcc.Accumulate(s2, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(a2->Qs + x + 96)), c3);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v0, Avx.LoadVector256(a3->Qs + x + 0)), c0);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v1, Avx.LoadVector256(a3->Qs + x + 32)), c1);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v2, Avx.LoadVector256(a3->Qs + x + 64)), c2);
                s3 = TAcc.Accumulate(s3, Avx2.MultiplyAddAdjacent(v3, Avx.LoadVector256(a3->Qs + x + 96)), c3);
            }

            var d = Fp16.ToFloat(w->D);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(d * a0->D), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(d * a1->D), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(d * a2->D), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(d * a3->D), acc3);
        }

        output[0] = Vector256.Sum(acc0);
        output[1] = Vector256.Sum(acc1);
        output[2] = Vector256.Sum(acc2);
        output[3] = Vector256.Sum(acc3);
    }


    /// <summary>Scale <paramref name="g"/> in the lower eight int16 lanes, scale g + 1 in the upper eight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(sbyte* sc, int g) => Vector256.Create(Vector128.Create((short)sc[g]), Vector128.Create((short)sc[g + 1]));
}
