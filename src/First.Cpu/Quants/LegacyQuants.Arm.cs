using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// Q4_1 / Q5_1 · Q8_1 on arm64, NEON or sdot, and the five-bit levels Q5_0 shares (<see cref="Q5_0Arm"/>). Each
/// block's levels (0..31) are 32 signed bytes whose integer product with the activations is summed by
/// <see cref="ISignedDotArm"/>; the block's sum is taken into float as the scalar twin takes it, so the results
/// are its own.
/// </summary>
internal static unsafe class LegacyQuantsArm
{
    /// <summary>Q4_1 (<paramref name="hasFifthBit"/> false) or Q5_1 · Q8_1: Σ isum·(d·d_a) + m·s, block after block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float DotMin<TDot>(byte* w, int blockBytes, bool hasFifthBit, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var a = (BlockQ8_1*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, w += blockBytes, a++)
        {
            var (low, high) = MinLevels(w, hasFifthBit);
            sum += MinBlock<TDot>(w, low, high, a);
        }

        return sum;
    }

    /// <summary><see cref="DotMin{TDot}"/> for four tokens (<paramref name="stride"/> bytes apart), each block's levels unpacked once; the same results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void DotMin4<TDot>(byte* w, int blockBytes, bool hasFifthBit, byte* activations, int stride, int n, float* output)
        where TDot : ISignedDotArm
    {
        BlockQ8_1* a0 = (BlockQ8_1*)activations, a1 = (BlockQ8_1*)(activations + stride), a2 = (BlockQ8_1*)(activations + (2 * stride)), a3 = (BlockQ8_1*)(activations + (3 * stride));
        float sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, w += blockBytes)
        {
            var (low, high) = MinLevels(w, hasFifthBit);
            sum0 += MinBlock<TDot>(w, low, high, a0 + i);
            sum1 += MinBlock<TDot>(w, low, high, a1 + i);
            sum2 += MinBlock<TDot>(w, low, high, a2 + i);
            sum3 += MinBlock<TDot>(w, low, high, a3 + i);
        }

        output[0] = sum0;
        output[1] = sum1;
        output[2] = sum2;
        output[3] = sum3;
    }

    /// <summary>The levels 0..31 of a Q4_1 or Q5_1 block (d, m, [qh,] nibbles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte> Low, Vector128<sbyte> High) MinLevels(byte* w, bool hasFifthBit)
    {
        if (hasFifthBit)
        {
            var (l, h) = Levels(w + 8, w + 4);
            return (l.AsSByte(), h.AsSByte());
        }

        var q = AdvSimd.LoadVector128(w + 4);
        return ((q & Vector128.Create((byte)0x0F)).AsSByte(), AdvSimd.ShiftRightLogical(q, 4).AsSByte());
    }

    /// <summary>One block's isum·(d·d_a) + m·s against one token's block <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MinBlock<TDot>(byte* w, Vector128<sbyte> low, Vector128<sbyte> high, BlockQ8_1* a)
        where TDot : ISignedDotArm
    {
        var isum = Vector128.Sum(TDot.Dot(low, high, AdvSimd.LoadVector128(a->Qs), AdvSimd.LoadVector128(a->Qs + 16)));
        return (isum * (Fp16.ToFloat(*(ushort*)w) * Fp16.ToFloat(a->D))) + (Fp16.ToFloat(*(ushort*)(w + 2)) * Fp16.ToFloat(a->S));
    }

    /// <summary>
    /// The 32 five-bit levels of a block: nibbles of <paramref name="qs"/> (low: values 0..15, high: 16..31) with
    /// bit j of the 32-bit <paramref name="qh"/> as 0x10 of value j (ggml-common.h block_q5_0 / block_q5_1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector128<byte> Low, Vector128<byte> High) Levels(byte* qs, byte* qh)
    {
        var q = AdvSimd.LoadVector128(qs);
        var bits = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(qh)).AsByte();
        var bit = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        var sixteen = Vector128.Create((byte)0x10);
        // tbl spreads qh bytes 0, 1 over values 0..15 and bytes 2, 3 over 16..31; cmtst picks bit j % 8.
        var lowBits = AdvSimd.CompareTest(AdvSimd.Arm64.VectorTableLookup(bits, Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)), bit) & sixteen;
        var highBits = AdvSimd.CompareTest(AdvSimd.Arm64.VectorTableLookup(bits, Vector128.Create((byte)2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)), bit) & sixteen;
        return ((q & Vector128.Create((byte)0x0F)) | lowBits, AdvSimd.ShiftRightLogical(q, 4) | highBits);
    }
}

/// <summary>Q5_0's five-bit levels less 16 (<see cref="LegacyQuantsArm.Levels"/>).</summary>
internal readonly unsafe struct Q5_0Arm : IArmSignedBlock
{
    public static int Bytes => BlockQ5_0.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<sbyte> Low, Vector128<sbyte> High) Signed(byte* block)
    {
        var (low, high) = LegacyQuantsArm.Levels(block + 6, block + 2);
        var sixteen = Vector128.Create((sbyte)16);
        return (low.AsSByte() - sixteen, high.AsSByte() - sixteen);
    }
}
