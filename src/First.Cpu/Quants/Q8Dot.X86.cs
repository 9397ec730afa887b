using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>A weight block's 32 values in activation order, as unsigned levels and as signed quants.</summary>
internal unsafe interface IUnsignedBlock
{
    /// <summary>Bytes per block.</summary>
    static abstract int Bytes { get; }

    /// <summary>The 32 levels of a block as unsigned bytes (Q4_1, Q5_1: the levels 0..31 the mins are added to).</summary>
    static abstract Vector256<byte> Unsigned(byte* block);

    /// <summary>The 32 quants of a block as signed bytes (Q4_0: nibble − 8, Q5_0: level − 16; what ggml's x86 kernels multiply).</summary>
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
/// The x86 row kernels with 32-value blocks: one row against one or four tokens, with <see cref="Q8Activations"/>
/// in ggml's eight-lane order (Q4_0, Q5_0, Q8_0) or with ggml's block_q8_1 (Q4_1, Q5_1).
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
}

/// <summary>Q4_0 nibbles as unsigned bytes 0..15 (= q − 8 + 8): low nibbles are values 0..15, high nibbles 16..31.</summary>
internal readonly unsafe struct Q4_0Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ4_0.Size;

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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Q4_0Unsigned.Nibbles(block + 6) | FifthBits.Spread(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Unsigned(block).AsSByte() - Vector256.Create((sbyte)16);
}

/// <summary>Q4_1 levels 0..15 (block_q4_1: d, m, then the nibbles as Q4_0's); the mins come through the activations' sums.</summary>
internal readonly unsafe struct Q4_1Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ4_1.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Q4_0Unsigned.Nibbles(block + 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Unsigned(block).AsSByte();
}

/// <summary>Q5_1 levels 0..31 (block_q5_1: d, m, qh as Q5_0's, the nibbles).</summary>
internal readonly unsafe struct Q5_1Unsigned : IUnsignedBlock
{
    public static int Bytes => BlockQ5_1.Size;

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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* block) => Avx.LoadVector256(block + 2) ^ Vector256.Create((byte)0x80);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Avx.LoadVector256((sbyte*)(block + 2));
}
