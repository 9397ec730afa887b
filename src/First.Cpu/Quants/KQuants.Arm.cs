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

    /// <summary>Q4_K · Q8_K for four tokens (<paramref name="stride"/> bytes apart).</summary>
    public static void Dot4Q4_K<TDot>(void* weights, void* activations, int stride, int n, float* output)
        where TDot : ISignedDotArm =>
        Dot4ScaleMin<TDot>((byte*)weights, BlockQ4_K.Size, 16, -1, (byte*)activations, stride, n, output);

    /// <summary>Q5_K · Q8_K for four tokens.</summary>
    public static void Dot4Q5_K<TDot>(void* weights, void* activations, int stride, int n, float* output)
        where TDot : ISignedDotArm =>
        Dot4ScaleMin<TDot>((byte*)weights, BlockQ5_K.Size, 48, 16, (byte*)activations, stride, n, output);

    /// <summary>The formats with six-bit scales and mins (see the x86 twin, KQuantsX86.DotScaleMin).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotScaleMin<TDot>(byte* w, int blockBytes, int qsOffset, int qhOffset, BlockQ8_K* a, int n)
        where TDot : ISignedDotArm
    {
        var sum = 0f;
        for (var i = 0; i < n / 256; i++, w += blockBytes, a++)
        {
            var s = Vector128<int>.Zero;
            var msum = 0;
            var fifth = new FifthBits(w, qhOffset);
            for (var j = 0; j < 4; j++)
            {
                var g = new ScaleMinGroup(w, qsOffset, j, ref fifth);
                g.Add<TDot>(a, ref s, ref msum);
            }

            sum += Finish(w, a, s, msum);
        }

        return sum;
    }

    /// <summary>
    /// <see cref="DotScaleMin{TDot}"/> for four tokens: each group pair's levels and scales unpacked once, then per
    /// token the row kernel's operations in its order (so its results).
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Dot4ScaleMin<TDot>(byte* w, int blockBytes, int qsOffset, int qhOffset, byte* activations, int stride, int n, float* output)
        where TDot : ISignedDotArm
    {
        BlockQ8_K* a0 = (BlockQ8_K*)activations, a1 = (BlockQ8_K*)(activations + stride), a2 = (BlockQ8_K*)(activations + (2 * stride)), a3 = (BlockQ8_K*)(activations + (3 * stride));
        float sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
        for (var i = 0; i < n / 256; i++, w += blockBytes)
        {
            Vector128<int> s0 = default, s1 = default, s2 = default, s3 = default;
            int m0 = 0, m1 = 0, m2 = 0, m3 = 0;
            var fifth = new FifthBits(w, qhOffset);
            for (var j = 0; j < 4; j++)
            {
                var g = new ScaleMinGroup(w, qsOffset, j, ref fifth);
                g.Add<TDot>(a0 + i, ref s0, ref m0);
                g.Add<TDot>(a1 + i, ref s1, ref m1);
                g.Add<TDot>(a2 + i, ref s2, ref m2);
                g.Add<TDot>(a3 + i, ref s3, ref m3);
            }

            sum0 += Finish(w, a0 + i, s0, m0);
            sum1 += Finish(w, a1 + i, s1, m1);
            sum2 += Finish(w, a2 + i, s2, m2);
            sum3 += Finish(w, a3 + i, s3, m3);
        }

        output[0] = sum0;
        output[1] = sum1;
        output[2] = sum2;
        output[3] = sum3;
    }

    /// <summary>A super-block's d·d_a·Σ sc·q·a − dmin·d_a·Σ m·(Σ a), as the scalar twin computes it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(byte* w, BlockQ8_K* a, Vector128<int> s, int msum)
    {
        var da = a->D;
        return (Fp16.ToFloat(*(ushort*)w) * da * Vector128.Sum(s)) - (Fp16.ToFloat(*(ushort*)(w + 2)) * da * msum);
    }

    /// <summary>Q5_K's fifth bits (qh, 32 bytes), consumed two groups at a time; nothing for Q4_K (offset −1).</summary>
    private struct FifthBits(byte* w, int qhOffset)
    {
        public readonly bool Present = qhOffset >= 0;
        public Vector128<byte> H0 = qhOffset >= 0 ? AdvSimd.LoadVector128(w + qhOffset) : default;
        public Vector128<byte> H1 = qhOffset >= 0 ? AdvSimd.LoadVector128(w + qhOffset + 16) : default;
    }

    /// <summary>Groups 2j and 2j + 1 of a Q4_K/Q5_K super-block: their levels, scales and mins.</summary>
    private readonly ref struct ScaleMinGroup
    {
        private readonly Vector128<byte> _l0, _l1, _u0, _u1;
        private readonly int _sc0, _sc1, _m0, _m1, _j;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ScaleMinGroup(byte* w, int qsOffset, int j, ref FifthBits fifth)
        {
            _j = j;
            KQuants.ScaleMin(2 * j, w + 4, out var sc0, out var m0);
            KQuants.ScaleMin((2 * j) + 1, w + 4, out var sc1, out var m1);
            (_sc0, _sc1, _m0, _m1) = (sc0, sc1, m0, m1);
            var q = w + qsOffset + (32 * j);
            var mask = Vector128.Create((byte)0x0F);
            var b0 = AdvSimd.LoadVector128(q);
            var b1 = AdvSimd.LoadVector128(q + 16);
            _l0 = b0 & mask;
            _l1 = b1 & mask;
            _u0 = AdvSimd.ShiftRightLogical(b0, 4);
            _u1 = AdvSimd.ShiftRightLogical(b1, 4);
            if (fifth.Present)
            {
                // Bit g of qh byte l is the fifth bit of value l of group g: one bit per group, in order.
                var one = Vector128.Create((byte)0x01);
                _l0 |= AdvSimd.ShiftLeftLogical(fifth.H0 & one, 4);
                _l1 |= AdvSimd.ShiftLeftLogical(fifth.H1 & one, 4);
                fifth.H0 = AdvSimd.ShiftRightLogical(fifth.H0, 1);
                fifth.H1 = AdvSimd.ShiftRightLogical(fifth.H1, 1);
                _u0 |= AdvSimd.ShiftLeftLogical(fifth.H0 & one, 4);
                _u1 |= AdvSimd.ShiftLeftLogical(fifth.H1 & one, 4);
                fifth.H0 = AdvSimd.ShiftRightLogical(fifth.H0, 1);
                fifth.H1 = AdvSimd.ShiftRightLogical(fifth.H1, 1);
            }
        }

        /// <summary>Adds the two groups' scaled products with token <paramref name="a"/> to <paramref name="s"/>, their mins' share to <paramref name="msum"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add<TDot>(BlockQ8_K* a, ref Vector128<int> s, ref int msum)
            where TDot : ISignedDotArm
        {
            var j = _j;
            msum += (_m0 * (a->Bsums[4 * j] + a->Bsums[(4 * j) + 1])) + (_m1 * (a->Bsums[(4 * j) + 2] + a->Bsums[(4 * j) + 3]));
            var x = a->Qs + (64 * j);
            var low = TDot.Dot(_l0.AsSByte(), _l1.AsSByte(), AdvSimd.LoadVector128(x), AdvSimd.LoadVector128(x + 16));
            var high = TDot.Dot(_u0.AsSByte(), _u1.AsSByte(), AdvSimd.LoadVector128(x + 32), AdvSimd.LoadVector128(x + 48));
            s = AdvSimd.MultiplyAdd(s, low, Vector128.Create(_sc0));
            s = AdvSimd.MultiplyAdd(s, high, Vector128.Create(_sc1));
        }
    }

    /// <summary>Q6_K · Q8_K.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ6_K<TDot>(void* weights, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var w = (BlockQ6_K*)weights;
        var a = (BlockQ8_K*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, w++, a++)
        {
            var s = Vector128<int>.Zero;
            for (var h = 0; h < 2; h++)
            {
                for (var c = 0; c < 2; c++)
                {
                    new Q6Quarter(w, h, c).Add<TDot>(a, ref s);
                }
            }

            sum += Q6Finish(w, a, s);
        }

        return sum;
    }

    /// <summary><see cref="DotQ6_K{TDot}"/> for four tokens (<paramref name="stride"/> bytes apart): levels unpacked once, per token the row kernel's operations (so its results).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void Dot4Q6_K<TDot>(void* weights, void* activations, int stride, int n, float* output)
        where TDot : ISignedDotArm
    {
        var w = (BlockQ6_K*)weights;
        var x = (byte*)activations;
        BlockQ8_K* a0 = (BlockQ8_K*)x, a1 = (BlockQ8_K*)(x + stride), a2 = (BlockQ8_K*)(x + (2 * stride)), a3 = (BlockQ8_K*)(x + (3 * stride));
        float sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, w++)
        {
            Vector128<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (var h = 0; h < 2; h++)
            {
                for (var c = 0; c < 2; c++)
                {
                    var q = new Q6Quarter(w, h, c);
                    q.Add<TDot>(a0 + i, ref s0);
                    q.Add<TDot>(a1 + i, ref s1);
                    q.Add<TDot>(a2 + i, ref s2);
                    q.Add<TDot>(a3 + i, ref s3);
                }
            }

            sum0 += Q6Finish(w, a0 + i, s0);
            sum1 += Q6Finish(w, a1 + i, s1);
            sum2 += Q6Finish(w, a2 + i, s2);
            sum3 += Q6Finish(w, a3 + i, s3);
        }

        output[0] = sum0;
        output[1] = sum1;
        output[2] = sum2;
        output[3] = sum3;
    }

    /// <summary>d·d_a·(Σ sc·(q + 32)·a − 32·Σ_g sc_g·(Σ a of group g)): the stored levels are q + 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q6Finish(BlockQ6_K* w, BlockQ8_K* a, Vector128<int> s)
    {
        var offset = 0;
        for (var g = 0; g < 16; g++)
        {
            offset += w->Scales[g] * a->Bsums[g];
        }

        return Fp16.ToFloat(w->D) * a->D * (Vector128.Sum(s) - (32 * offset));
    }

    /// <summary>
    /// Quarter <paramref name="i"/>'s six-bit levels (dequantize_row_q6_K's layout) from its ql bytes (those at ql for quarters
    /// 0 and 2, at ql + 32 for 1 and 3) and the qh bytes: low (i &lt; 2) or high nibbles, with qh's bits 2i, 2i + 1 as bits 4-5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<byte> Q6Level(Vector128<byte> ql, Vector128<byte> qh, int i)
    {
        var nibbles = i < 2 ? ql & Vector128.Create((byte)0x0F) : AdvSimd.ShiftRightLogical(ql, 4);
        var bits = i switch
        {
            0 => AdvSimd.ShiftLeftLogical(qh, 4),
            1 => AdvSimd.ShiftLeftLogical(qh, 2),
            2 => qh,
            _ => AdvSimd.ShiftRightLogical(qh, 2),
        };
        return nibbles | (bits & Vector128.Create((byte)0x30));
    }

    /// <summary>
    /// Sixteen values of each quarter of 32 in half <c>h</c> of a Q6_K super-block (value c·16 + l of each quarter),
    /// levels per ggml's dequantize_row_q6_K, with the quarters' scales.
    /// </summary>
    private readonly ref struct Q6Quarter
    {
        private readonly Vector128<byte> _v0, _v1, _v2, _v3;
        private readonly int _sc0, _sc1, _sc2, _sc3, _offset;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Q6Quarter(BlockQ6_K* w, int h, int c)
        {
            var ql = w->Ql + (64 * h);
            var qh = w->Qh + (32 * h);
            var sc = w->Scales + (8 * h);
            var l0 = AdvSimd.LoadVector128(ql + (16 * c));
            var l1 = AdvSimd.LoadVector128(ql + 32 + (16 * c));
            var hb = AdvSimd.LoadVector128(qh + (16 * c));
            _v0 = Q6Level(l0, hb, 0);
            _v1 = Q6Level(l1, hb, 1);
            _v2 = Q6Level(l0, hb, 2);
            _v3 = Q6Level(l1, hb, 3);
            (_sc0, _sc1, _sc2, _sc3) = (sc[c], sc[2 + c], sc[4 + c], sc[6 + c]);
            _offset = (128 * h) + (16 * c);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add<TDot>(BlockQ8_K* a, ref Vector128<int> s)
            where TDot : ISignedDotArm
        {
            var y = a->Qs + _offset;
            s = AdvSimd.MultiplyAdd(s, TDot.Dot16(_v0.AsSByte(), AdvSimd.LoadVector128(y)), Vector128.Create(_sc0));
            s = AdvSimd.MultiplyAdd(s, TDot.Dot16(_v1.AsSByte(), AdvSimd.LoadVector128(y + 32)), Vector128.Create(_sc1));
            s = AdvSimd.MultiplyAdd(s, TDot.Dot16(_v2.AsSByte(), AdvSimd.LoadVector128(y + 64)), Vector128.Create(_sc2));
            s = AdvSimd.MultiplyAdd(s, TDot.Dot16(_v3.AsSByte(), AdvSimd.LoadVector128(y + 96)), Vector128.Create(_sc3));
        }
    }
}
