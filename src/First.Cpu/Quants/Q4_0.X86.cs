using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Quants;

/// <summary>Q4_0·Q8_0 on x86: AVX2 (+FMA), AVX-VNNI and AVX-512BW.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>AVX2: nibbles unpacked to 32 signed bytes (q − 8), then the Q8_0 block product.</summary>
    public static float DotAvx2(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ4_0.Elements;
        Vector256<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ4_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotAvx2(Unpack(w), Avx.LoadVector256((sbyte*)(a + 2)))), Vector256.Create(Q8_0.Scale(w, a)), acc0);
            var w1 = w + BlockQ4_0.Size;
            var a1 = a + BlockQ8_0.Size;
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotAvx2(Unpack(w1), Avx.LoadVector256((sbyte*)(a1 + 2)))), Vector256.Create(Q8_0.Scale(w1, a1)), acc1);
        }

        if (i < nb)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotAvx2(Unpack(w), Avx.LoadVector256((sbyte*)(a + 2)))), Vector256.Create(Q8_0.Scale(w, a)), acc0);
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>AVX-VNNI: as AVX2 with vpdpbusd.</summary>
    public static float DotAvxVnni(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ4_0.Elements;
        Vector256<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ4_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotVnni(Unpack(w), Avx.LoadVector256((sbyte*)(a + 2)))), Vector256.Create(Q8_0.Scale(w, a)), acc0);
            var w1 = w + BlockQ4_0.Size;
            var a1 = a + BlockQ8_0.Size;
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotVnni(Unpack(w1), Avx.LoadVector256((sbyte*)(a1 + 2)))), Vector256.Create(Q8_0.Scale(w1, a1)), acc1);
        }

        if (i < nb)
        {
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Q8_0.SignedDotVnni(Unpack(w), Avx.LoadVector256((sbyte*)(a + 2)))), Vector256.Create(Q8_0.Scale(w, a)), acc0);
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>AVX-512BW: two blocks per 512-bit vector.</summary>
    public static float DotAvx512(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ4_0.Elements;
        Vector512<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 3 < nb; i += 4, w += 4 * BlockQ4_0.Size, a += 4 * BlockQ8_0.Size)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSums(w, a)), PairScales(w, a), acc0);
            var w2 = w + (2 * BlockQ4_0.Size);
            var a2 = a + (2 * BlockQ8_0.Size);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(PairSums(w2, a2)), PairScales(w2, a2), acc1);
        }

        var sum = Vector512.Sum(acc0 + acc1);
        return i < nb ? sum + DotAvx2(w, a, (nb - i) * BlockQ4_0.Elements) : sum;
    }

    /// <summary>The 32 quants of a Q4_0 block as signed bytes q − 8: low nibbles first, then high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Unpack(byte* block)
    {
        var q = Sse2.LoadVector128(block + 2);
        var nibbles = Vector256.Create(q, Sse2.ShiftRightLogical(q.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
        return (nibbles.AsSByte() - Vector256.Create((sbyte)8));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairSums(byte* w, byte* a)
    {
        var x = Vector512.Create(Unpack(w), Unpack(w + BlockQ4_0.Size));
        var y = Vector512.Create(Avx.LoadVector256((sbyte*)(a + 2)), Avx.LoadVector256((sbyte*)(a + BlockQ8_0.Size + 2)));
        var products = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(x), Q8_0.SignAvx512(y, x));
        return Avx512BW.MultiplyAddAdjacent(products, Vector512.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairScales(byte* w, byte* a) =>
        Vector512.Create(Vector256.Create(Q8_0.Scale(w, a)), Vector256.Create(Q8_0.Scale(w + BlockQ4_0.Size, a + BlockQ8_0.Size)));
}
