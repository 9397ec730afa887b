using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>Q8_0·Q8_0 on x86: AVX2 (+FMA), AVX-VNNI and AVX-512BW.</summary>
public static unsafe partial class Q8_0
{
    /// <summary>AVX2: per block, |w|·sign(a, w) through vpmaddubsw and vpmaddwd gives eight exact int32 partial sums.</summary>
    public static float DotAvx2(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ8_0.Elements;
        Vector256<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ8_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsAvx2(w, a)), Vector256.Create(Scale(w, a)), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsAvx2(w + BlockQ8_0.Size, a + BlockQ8_0.Size)),
                Vector256.Create(Scale(w + BlockQ8_0.Size, a + BlockQ8_0.Size)), acc1);
        }

        if (i < nb)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsAvx2(w, a)), Vector256.Create(Scale(w, a)), acc0);
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>AVX-VNNI: one vpdpbusd (256-bit) per block instead of vpmaddubsw + vpmaddwd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ8_0.Elements;
        Vector256<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ8_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsVnni(w, a)), Vector256.Create(Scale(w, a)), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsVnni(w + BlockQ8_0.Size, a + BlockQ8_0.Size)),
                Vector256.Create(Scale(w + BlockQ8_0.Size, a + BlockQ8_0.Size)), acc1);
        }

        if (i < nb)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(BlockSumsVnni(w, a)), Vector256.Create(Scale(w, a)), acc0);
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>AVX-512BW: two blocks per 512-bit vector (.NET has no 512-bit VNNI class, so vpmaddubsw + vpmaddwd).</summary>
    public static float DotAvx512(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ8_0.Elements;
        Vector512<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 3 < nb; i += 4, w += 4 * BlockQ8_0.Size, a += 4 * BlockQ8_0.Size)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsAvx512(w, a)), PairScales(w, a), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSumsAvx512(w + (2 * BlockQ8_0.Size), a + (2 * BlockQ8_0.Size))),
                PairScales(w + (2 * BlockQ8_0.Size), a + (2 * BlockQ8_0.Size)), acc1);
        }

        var sum = Vector512.Sum(acc0 + acc1);
        return i < nb ? sum + DotAvx2(w, a, (nb - i) * BlockQ8_0.Elements) : sum;
    }

    /// <summary>d_w · d_a of the blocks at <paramref name="w"/> and <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(byte* w, byte* a) => Fp16.ToFloat(*(ushort*)w) * Fp16.ToFloat(*(ushort*)a);

    /// <summary>Eight int32 lanes whose sum is Σ w·a over the 32 quants of one block pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> BlockSumsAvx2(byte* w, byte* a)
    {
        var x = Avx.LoadVector256((sbyte*)(w + 2));
        var y = Avx.LoadVector256((sbyte*)(a + 2));
        return SignedDotAvx2(x, y);
    }

    /// <summary>Σ x·y of signed bytes in groups of four: vpmaddubsw wants unsigned × signed, so |x| × sign(y, x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> SignedDotAvx2(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        var products = Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(y, x));
        return Avx2.MultiplyAddAdjacent(products, Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> SignedDotVnni(Vector256<sbyte> x, Vector256<sbyte> y) =>
        AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.Abs(x), Avx2.Sign(y, x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockSumsVnni(byte* w, byte* a) =>
        SignedDotVnni(Avx.LoadVector256((sbyte*)(w + 2)), Avx.LoadVector256((sbyte*)(a + 2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairSumsAvx512(byte* w, byte* a)
    {
        var x = Vector512.Create(Avx.LoadVector256((sbyte*)(w + 2)), Avx.LoadVector256((sbyte*)(w + BlockQ8_0.Size + 2)));
        var y = Vector512.Create(Avx.LoadVector256((sbyte*)(a + 2)), Avx.LoadVector256((sbyte*)(a + BlockQ8_0.Size + 2)));
        var products = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(x), SignAvx512(y, x));
        return Avx512BW.MultiplyAddAdjacent(products, Vector512.Create((short)1));
    }

    /// <summary>sign(y, x) for 512 bits (AVX-512 has no vpsignb): −y where x &lt; 0, 0 where x = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<sbyte> SignAvx512(Vector512<sbyte> y, Vector512<sbyte> x)
    {
        var negative = Vector512.LessThan(x, Vector512<sbyte>.Zero);
        var zero = Vector512.Equals(x, Vector512<sbyte>.Zero);
        return Vector512.AndNot(Vector512.ConditionalSelect(negative, -y, y), zero);
    }

    /// <summary>The scale of block 0 in the low eight lanes and of block 1 in the high eight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> PairScales(byte* w, byte* a) =>
        Vector512.Create(Vector256.Create(Scale(w, a)), Vector256.Create(Scale(w + BlockQ8_0.Size, a + BlockQ8_0.Size)));
}
