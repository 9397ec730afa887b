using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>A weight block read as 32 unsigned bytes u = q + Offset, in activation order.</summary>
internal unsafe interface IUnsignedBlock
{
    /// <summary>Bytes per block.</summary>
    static abstract int Bytes { get; }

    /// <summary>What the unsigned bytes exceed the quants by (8 for Q4_0's nibbles, 128 for Q8_0 with the sign bit flipped).</summary>
    static abstract float Offset { get; }

    /// <summary>The 32 unsigned bytes of a block.</summary>
    static abstract Vector256<byte> Unsigned(byte* block);

    /// <summary>The 32 quants of a block as signed bytes, u − Offset (what ggml's x86 kernels multiply).</summary>
    static abstract Vector256<sbyte> Signed(byte* block);
}

/// <summary>Σ u·s in eight int32 lanes for unsigned u and signed s bytes.</summary>
internal interface IUnsignedDot
{
    static abstract Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s);
}

/// <summary>AVX-VNNI: one vpdpbusd.</summary>
internal readonly struct VnniDot : IUnsignedDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
}

/// <summary>AVX2: vpmaddubsw + vpmaddwd; exact only while 2·u·|s| ≤ 32767 (u ≤ 15: Q4_0).</summary>
internal readonly struct MaddDot : IUnsignedDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
}

/// <summary>
/// The x86 driver of dot products with <see cref="Q8Activations"/>. Per group of eight blocks: the eight
/// weight scales are gathered and converted at once, multiplied by the activation scales, and the offset's
/// share (Offset · d_w · s_a) is accumulated as one vector; per block, one unsigned×signed byte product,
/// a conversion and a multiply-add. Weight scales are assumed finite (a half infinity or NaN converts
/// to a large finite value).
/// </summary>
internal static unsafe class Q8DotX86
{
    /// <summary>
    /// Formats with a scale d and a min m per block (Q4_1, Q5_1) against ggml's block_q8_1 activations, which
    /// carry s = d_a · Σq: Σ_b d·d_a·Σ q·a + m·s, the integer sums by the byte product, the rest in float.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float DotMin<TBlock, TDot>(byte* w, void* activations, int n)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var a = (BlockQ8_1*)activations;
        Vector256<float> acc = default;
        var mins = 0f;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, w += TBlock.Bytes, a++)
        {
            var dot = TDot.Dot(TBlock.Unsigned(w), Avx.LoadVector256(a->Qs));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(Fp16.ToFloat(*(ushort*)w) * Fp16.ToFloat(a->D)), acc);
            mins += Fp16.ToFloat(*(ushort*)(w + 2)) * Fp16.ToFloat(a->S);
        }

        return Vector256.Sum(acc) + mins;
    }

    /// <summary>
    /// <see cref="DotMin{TBlock, TDot}"/> for four tokens (<paramref name="stride"/> bytes apart), each block's levels
    /// unpacked once: per token the same operations in the same order, so the same results. Writes output[0..3].
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void DotMin4<TBlock, TDot>(byte* w, byte* activations, int stride, int n, float* output)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        BlockQ8_1* a0 = (BlockQ8_1*)activations, a1 = (BlockQ8_1*)(activations + stride), a2 = (BlockQ8_1*)(activations + (2 * stride)), a3 = (BlockQ8_1*)(activations + (3 * stride));
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        float mins0 = 0, mins1 = 0, mins2 = 0, mins3 = 0;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, w += TBlock.Bytes)
        {
            var u = TBlock.Unsigned(w);
            var d = Fp16.ToFloat(*(ushort*)w);
            var m = Fp16.ToFloat(*(ushort*)(w + 2));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Avx.LoadVector256(a0[i].Qs))), Vector256.Create(d * Fp16.ToFloat(a0[i].D)), acc0);
            mins0 += m * Fp16.ToFloat(a0[i].S);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Avx.LoadVector256(a1[i].Qs))), Vector256.Create(d * Fp16.ToFloat(a1[i].D)), acc1);
            mins1 += m * Fp16.ToFloat(a1[i].S);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Avx.LoadVector256(a2[i].Qs))), Vector256.Create(d * Fp16.ToFloat(a2[i].D)), acc2);
            mins2 += m * Fp16.ToFloat(a2[i].S);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Avx.LoadVector256(a3[i].Qs))), Vector256.Create(d * Fp16.ToFloat(a3[i].D)), acc3);
            mins3 += m * Fp16.ToFloat(a3[i].S);
        }

        output[0] = Vector256.Sum(acc0) + mins0;
        output[1] = Vector256.Sum(acc1) + mins1;
        output[2] = Vector256.Sum(acc2) + mins2;
        output[3] = Vector256.Sum(acc3) + mins3;
    }

    /// <summary>
    /// Σ w·a in ggml's x86 order (ggml_vec_dot_q4_0_q8_0 and llamafile's tinyBLAS_Q0_AVX, ggml-cpu/arch/x86/quants.c
    /// and llamafile/sgemm.cpp): per block, eight int32 lanes of four products each (values 4j..4j+3), each
    /// lane converted to float and multiplied-added by d_w·d_a into its own float lane; at the end the lanes
    /// are summed as hsum_float_8 does (<see cref="SumLanes"/>). The signed products go through
    /// |w| · sign(a, w), as ggml's do (activations never hold −128, so this is exact).
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float LaneDot<TBlock, TDot>(byte* w, void* activations, int n)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var nb = n / Q8Activations.BlockSize;
        var aq = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var table = Fp16.Table;
        Vector256<float> acc = default;
        for (var b = 0; b < nb; b++, w += TBlock.Bytes, aq += 32)
        {
            var x = TBlock.Signed(w);
            var p = TDot.Dot(Avx2.Abs(x), Avx2.Sign(Vector256.Load(aq), x));
            acc = Fma.MultiplyAdd(Vector256.Create(table[*(ushort*)w] * ad[b]), Avx.ConvertToVector256Single(p), acc);
        }

        return SumLanes(acc);
    }

    /// <summary>
    /// One weight row against four activation rows (<paramref name="stride"/> bytes apart) in the order of
    /// <see cref="LaneDot{TBlock, TDot}"/>, each weight block unpacked once. Writes output[0..3].
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void LaneDot4<TBlock, TDot>(byte* w, byte* activations, int stride, int n, float* output)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var nb = n / Q8Activations.BlockSize;
        var table = Fp16.Table;
        sbyte* a0 = (sbyte*)activations, a1 = a0 + stride, a2 = a1 + stride, a3 = a2 + stride;
        float* d0 = Q8Activations.Scales(a0, n), d1 = Q8Activations.Scales(a1, n), d2 = Q8Activations.Scales(a2, n), d3 = Q8Activations.Scales(a3, n);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < nb; b++, w += TBlock.Bytes)
        {
            var x = TBlock.Signed(w);
            var ax = Avx2.Abs(x);
            var dw = table[*(ushort*)w];
            var q = b * 32;
            acc0 = Fma.MultiplyAdd(Vector256.Create(dw * d0[b]), Avx.ConvertToVector256Single(TDot.Dot(ax, Avx2.Sign(Vector256.Load(a0 + q), x))), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(dw * d1[b]), Avx.ConvertToVector256Single(TDot.Dot(ax, Avx2.Sign(Vector256.Load(a1 + q), x))), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(dw * d2[b]), Avx.ConvertToVector256Single(TDot.Dot(ax, Avx2.Sign(Vector256.Load(a2 + q), x))), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(dw * d3[b]), Avx.ConvertToVector256Single(TDot.Dot(ax, Avx2.Sign(Vector256.Load(a3 + q), x))), acc3);
        }

        output[0] = SumLanes(acc0);
        output[1] = SumLanes(acc1);
        output[2] = SumLanes(acc2);
        output[3] = SumLanes(acc3);
    }

    /// <summary>ggml's hsum_float_8: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumLanes(Vector256<float> v)
    {
        var s = v.GetLower() + v.GetUpper();
        return (s.GetElement(0) + s.GetElement(2)) + (s.GetElement(1) + s.GetElement(3));
    }

    public static float Dot<TBlock, TDot>(byte* w, void* activations, int n)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var nb = n / Q8Activations.BlockSize;
        var aq = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var asum = Q8Activations.Sums(activations, n);
        var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * TBlock.Bytes;
        var low = Vector256.Create(0, 1, 2, 3, 0, 1, 2, 3);
        var high = Vector256.Create(4, 5, 6, 7, 4, 5, 6, 7);
        Vector256<float> acc0 = default, acc1 = default, corr = default;
        var i = 0;
        for (; i + 8 <= nb; i += 8)
        {
            var blocks = w + ((long)i * TBlock.Bytes);
            var dw = HalfScales(blocks, offsets);
            var d = dw * Vector256.Load(ad + i);
            corr = Fma.MultiplyAdd(dw, Vector256.Load(asum + i), corr);
            var a = aq + (i * 32);

            // vphaddd twice folds four blocks' eight-lane sums into one vector whose lanes hold blocks
            // 0,1,2,3,0,1,2,3 (still exact integers): one conversion and one FMA per four blocks.
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Fold<TBlock, TDot>(blocks, a)), Avx2.PermuteVar8x32(d, low), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Fold<TBlock, TDot>(blocks + (4 * TBlock.Bytes), a + 128)), Avx2.PermuteVar8x32(d, high), acc1);
        }

        var sum = Vector256.Sum(acc0 + acc1) - (TBlock.Offset * Vector256.Sum(corr));
        for (; i < nb; i++)
        {
            var block = w + ((long)i * TBlock.Bytes);
            var dw = Fp16.ToFloat(*(ushort*)block);
            var isum = Vector256.Sum(TDot.Dot(TBlock.Unsigned(block), Vector256.Load(aq + (i * 32))));
            sum += (dw * ad[i] * isum) - (TBlock.Offset * dw * asum[i]);
        }

        return sum;
    }

    /// <summary>
    /// One weight row against four activation rows (<paramref name="stride"/> bytes apart): what four calls of
    /// <see cref="Dot{TBlock, TDot}"/> give, with each weight block unpacked once for the four tokens. A
    /// prologue turns the row's half scales into floats (<see cref="Fp16.Table"/>) and multiplies them by each
    /// token's scales into stack arrays; the loop then does, per block and token, one integer product, one
    /// conversion and one multiply-add with a scale broadcast from memory (no horizontal adds, which cost
    /// two cycles each on Zen 3). Writes output[0..3].
    /// </summary>
    [SkipLocalsInit]
    public static void Dot4<TBlock, TDot>(byte* w, byte* activations, int stride, int n, float* output)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var nb = n / Q8Activations.BlockSize;
        var padded = (nb + 7) & ~7;
        var scratch = stackalloc float[5 * padded];
        var dws = scratch;
        RowScales(w, TBlock.Bytes, nb, dws);

        byte* a0 = activations, a1 = a0 + stride, a2 = a1 + stride, a3 = a2 + stride;
        float* d0 = scratch + padded, d1 = d0 + padded, d2 = d1 + padded, d3 = d2 + padded;
        var c0 = Scale(dws, a0, n, d0);
        var c1 = Scale(dws, a1, n, d1);
        var c2 = Scale(dws, a2, n, d2);
        var c3 = Scale(dws, a3, n, d3);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < nb; b++)
        {
            var u = TBlock.Unsigned(w + ((long)b * TBlock.Bytes));
            var q = b * 32;
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Vector256.Load((sbyte*)a0 + q))), Vector256.Create(d0[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Vector256.Load((sbyte*)a1 + q))), Vector256.Create(d1[b]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Vector256.Load((sbyte*)a2 + q))), Vector256.Create(d2[b]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TDot.Dot(u, Vector256.Load((sbyte*)a3 + q))), Vector256.Create(d3[b]), acc3);
        }

        output[0] = Vector256.Sum(acc0) - (TBlock.Offset * c0);
        output[1] = Vector256.Sum(acc1) - (TBlock.Offset * c1);
        output[2] = Vector256.Sum(acc2) - (TBlock.Offset * c2);
        output[3] = Vector256.Sum(acc3) - (TBlock.Offset * c3);
    }

    /// <summary>The half scales at the start of a row's <paramref name="nb"/> blocks, as floats, through <see cref="Fp16.Table"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RowScales(byte* w, int blockBytes, int nb, float* dws)
    {
        var table = Fp16.Table;
        for (var b = 0; b < nb; b++)
        {
            dws[b] = table[*(ushort*)(w + ((long)b * blockBytes))];
        }
    }

    /// <summary>d[b] = dw[b] · (token's scale of block b) for the padded row; returns Σ dw[b] · (token's d·Σq of block b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(float* dws, byte* activations, int n, float* d)
    {
        var nb = n / Q8Activations.BlockSize;
        var ad = Q8Activations.Scales(activations, n);
        var asum = Q8Activations.Sums(activations, n);
        var corr = Vector256<float>.Zero;
        var b = 0;
        for (; b + 8 <= nb; b += 8)
        {
            var dw = Vector256.Load(dws + b);
            (dw * Vector256.Load(ad + b)).Store(d + b);
            corr = Fma.MultiplyAdd(dw, Vector256.Load(asum + b), corr);
        }

        var c = Vector256.Sum(corr);
        for (; b < nb; b++)
        {
            d[b] = dws[b] * ad[b];
            c += dws[b] * asum[b];
        }

        return c;
    }

    /// <summary>Σ of each of four blocks' products, in lanes (b0, b1, b2, b3, b0, b1, b2, b3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Fold<TBlock, TDot>(byte* blocks, sbyte* a)
        where TBlock : IUnsignedBlock
        where TDot : IUnsignedDot
    {
        var p0 = TDot.Dot(TBlock.Unsigned(blocks), Vector256.Load(a));
        var p1 = TDot.Dot(TBlock.Unsigned(blocks + TBlock.Bytes), Vector256.Load(a + 32));
        var p2 = TDot.Dot(TBlock.Unsigned(blocks + (2 * TBlock.Bytes)), Vector256.Load(a + 64));
        var p3 = TDot.Dot(TBlock.Unsigned(blocks + (3 * TBlock.Bytes)), Vector256.Load(a + 96));
        return Avx2.HorizontalAdd(Avx2.HorizontalAdd(p0, p1), Avx2.HorizontalAdd(p2, p3));
    }

    /// <summary>The half scales at the start of eight blocks, as floats (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfScales(byte* blocks, Vector256<int> offsets) =>
        Fp16.ToFloat((Avx2.GatherVector256((int*)blocks, offsets, 1) & Vector256.Create(0xFFFF)).AsUInt32());
}

/// <summary>Q4_0 nibbles as unsigned bytes 0..15 (= q − 8 + 8): low nibbles are values 0..15, high nibbles 16..31.</summary>
internal readonly unsafe struct Q4_0Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ4_0.Size;

    public static float Offset => 8f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Nibbles(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Nibbles(block + 2).AsSByte() - Vector256.Create((sbyte)8);

    /// <summary>Sixteen bytes of nibbles as 32 bytes: the low nibbles (values 0..15), then the high ones (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* qs)
    {
        // The 16 bytes in both halves; the upper half shifted right by 4.
        var both = Avx2.BroadcastVector128ToVector256(qs).AsUInt32();
        return Avx2.ShiftRightLogicalVariable(both, Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsByte() & Vector256.Create((byte)0x0F);
    }
}

/// <summary>
/// Q5_0 levels q + 16 = nibble | fifth bit · 16 (ggml-common.h block_q5_0: value j's fifth bit is bit j of qh;
/// values 0..15 are the low nibbles, 16..31 the high ones).
/// </summary>
internal readonly unsafe struct Q5_0Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ5_0.Size;

    public static float Offset => 16f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Q4_0Unsigned.Nibbles(block + 6) | FifthBits.Spread(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Unsigned(block).AsSByte() - Vector256.Create((sbyte)16);
}

/// <summary>Q4_1 levels 0..15 (block_q4_1: d, m, then the nibbles as Q4_0's); the mins come through the activations' sums.</summary>
internal readonly unsafe struct Q4_1Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ4_1.Size;

    public static float Offset => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Q4_0Unsigned.Nibbles(block + 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Unsigned(block).AsSByte();
}

/// <summary>Q5_1 levels 0..31 (block_q5_1: d, m, qh as Q5_0's, the nibbles).</summary>
internal readonly unsafe struct Q5_1Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ5_1.Size;

    public static float Offset => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Q4_0Unsigned.Nibbles(block + 8) | FifthBits.Spread(block + 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Unsigned(block).AsSByte();
}

/// <summary>The fifth bits of Q5_0 and Q5_1: bit j of the 32-bit qh becomes 0x10 in byte j.</summary>
internal static unsafe class FifthBits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Spread(byte* qh)
    {
        // Byte j gets qh byte j / 8 (vpshufb within each 128-bit half of the broadcast word), then its bit j % 8.
        var word = Vector256.Create(Unsafe.ReadUnaligned<uint>(qh)).AsByte();
        var spread = Avx2.Shuffle(word, Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create(
            (byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
            1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)0x10);
    }
}

/// <summary>Q8_0 quants with the sign bit flipped: q + 128 as unsigned bytes.</summary>
internal readonly unsafe struct Q8_0Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ8_0.Size;

    public static float Offset => 128f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Avx.LoadVector256(block + 2) ^ Vector256.Create((byte)0x80);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Avx.LoadVector256((sbyte*)(block + 2));
}
