using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>Q8_0 · Q8 activations on x86.</summary>
public static unsafe partial class Q8_0
{
    /// <summary>AVX-VNNI, eight interleaved rows (<see cref="Interleaved8"/>) against one token; quants read unsigned.</summary>
    public static void DotInterleavedAvxVnni(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q8_0x8Unsigned, VnniAccumulate>(group, activations, n, y);

    /// <summary>AVX-VNNI, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvxVnni(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q8_0x8Unsigned, VnniAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvxVnni(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q8_0x8Unsigned, VnniAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, eight interleaved rows against one token; |w| · sign(a, w).</summary>
    public static void DotInterleavedAvx2(byte* group, byte* activations, int n, float* y) =>
        Interleaved8.Dot<Q8_0x8Signed, SignAccumulate>(group, activations, n, y);

    /// <summary>AVX2 + FMA, eight interleaved rows against four tokens.</summary>
    public static void Dot4InterleavedAvx2(byte* group, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4<Q8_0x8Signed, SignAccumulate>(group, activations, stride, n, y, yStride);

    /// <summary>AVX2 + FMA, two groups of eight interleaved rows (<paramref name="groupBytes"/> apart) against four tokens.</summary>
    public static void Dot4PairInterleavedAvx2(byte* group, long groupBytes, byte* activations, int stride, int n, float* y, int yStride) =>
        Interleaved8.Dot4Pair<Q8_0x8Signed, SignAccumulate>(group, groupBytes, activations, stride, n, y, yStride);

    /// <summary>AVX-VNNI, in ggml's eight-lane order (<see cref="Q8DotX86.LaneDot{TBlock, TDot}"/>; twin <see cref="DotLanesScalar"/>).</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n) => Q8DotX86.LaneDot<Q8_0Unsigned, VnniDot>((byte*)weights, activations, n);

    /// <summary>AVX-VNNI, one row against four tokens, in ggml's eight-lane order.</summary>
    public static void Dot4AvxVnni(void* weights, void* activations, int stride, int n, float* output) =>
        Q8DotX86.LaneDot4<Q8_0Unsigned, VnniDot>((byte*)weights, (byte*)activations, stride, n, output);

    /// <summary>
    /// AVX2 + FMA: |w| · sign(a, w) through vpmaddubsw/vpmaddwd (unsigned +128 would saturate vpmaddubsw).
    /// Exact for quants in −127..127, as ggml's quantizers write them.
    /// </summary>
    [SkipLocalsInit]
    public static float DotAvx2(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var nb = n / BlockQ8_0.Elements;
        var aq = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var scales = stackalloc float[8];
        var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * BlockQ8_0.Size;
        Vector256<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 8 <= nb; i += 8)
        {
            var blocks = w + ((long)i * BlockQ8_0.Size);
            (Q8DotX86.HalfScales(blocks, offsets) * Vector256.Load(ad + i)).Store(scales);
            var a = aq + (i * 32);
            for (var j = 0; j < 8; j += 2)
            {
                acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(SignedDot(blocks + (j * BlockQ8_0.Size), a + (j * 32))), Vector256.Create(scales[j]), acc0);
                acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(SignedDot(blocks + ((j + 1) * BlockQ8_0.Size), a + ((j + 1) * 32))), Vector256.Create(scales[j + 1]), acc1);
            }
        }

        var sum = Vector256.Sum(acc0 + acc1);
        for (; i < nb; i++)
        {
            var block = w + ((long)i * BlockQ8_0.Size);
            sum += Fp16.ToFloat(*(ushort*)block) * ad[i] * Vector256.Sum(SignedDot(block, aq + (i * 32)));
        }

        return sum;
    }

    /// <summary>AVX2 + FMA, one row against four tokens: |w| once per block, sign(a, w) per token.</summary>
    [SkipLocalsInit]
    public static void Dot4Avx2(void* weights, void* activations, int stride, int n, float* output)
    {
        var w = (byte*)weights;
        var nb = n / BlockQ8_0.Elements;
        var padded = (nb + 7) & ~7;
        var scratch = stackalloc float[5 * padded];
        var dws = scratch;
        Q8DotX86.RowScales(w, BlockQ8_0.Size, nb, dws);

        var a0 = (byte*)activations;
        byte* a1 = a0 + stride, a2 = a1 + stride, a3 = a2 + stride;
        float* d0 = scratch + padded, d1 = d0 + padded, d2 = d1 + padded, d3 = d2 + padded;
        _ = Q8DotX86.Scale(dws, a0, n, d0); // Q8_0 quants are read signed: no offset to take back
        _ = Q8DotX86.Scale(dws, a1, n, d1);
        _ = Q8DotX86.Scale(dws, a2, n, d2);
        _ = Q8DotX86.Scale(dws, a3, n, d3);
        var ones = Vector256.Create((short)1);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var b = 0; b < nb; b++)
        {
            var x = Avx.LoadVector256((sbyte*)(w + ((long)b * BlockQ8_0.Size) + 2));
            var ax = Avx2.Abs(x);
            var q = b * 32;
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load((sbyte*)a0 + q), x)), ones)), Vector256.Create(d0[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load((sbyte*)a1 + q), x)), ones)), Vector256.Create(d1[b]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load((sbyte*)a2 + q), x)), ones)), Vector256.Create(d2[b]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(Vector256.Load((sbyte*)a3 + q), x)), ones)), Vector256.Create(d3[b]), acc3);
        }

        output[0] = Vector256.Sum(acc0);
        output[1] = Vector256.Sum(acc1);
        output[2] = Vector256.Sum(acc2);
        output[3] = Vector256.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SignedDot(byte* block, sbyte* a)
    {
        var x = Avx.LoadVector256((sbyte*)(block + 2));
        var products = Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(Vector256.Load(a), x));
        return Avx2.MultiplyAddAdjacent(products, Vector256.Create((short)1));
    }
}
