using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_0 · Q8 activations and Q4_1 / Q5_1 · Q8_1 on arm64, NEON or sdot. Each block's levels become 32 signed
/// bytes (Q5_0: q − 16; Q4_1, Q5_1: q itself, 0..31), their integer product with the activations is summed
/// by <see cref="ISignedDotArm"/>, and the block's sum is taken into float as the scalar twin takes it (Q4_1,
/// Q5_1: so the results are its own) or in four float lanes (Q5_0, like Q4_0's kernel).
/// </summary>
internal static unsafe class LegacyQuantsArm
{
    /// <summary>Q5_0 · Q8 activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float DotQ5_0<TDot>(byte* w, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var a = (sbyte*)activations;
        var ad = Q8Activations.Scales(activations, n);
        var sixteen = Vector128.Create((sbyte)16);
        Vector128<float> acc = default;
        for (var i = 0; i < n / BlockQ5_0.Elements; i++, w += BlockQ5_0.Size, a += 32)
        {
            var (low, high) = Levels(w + 6, w + 2);
            var sum = TDot.Dot(low.AsSByte() - sixteen, high.AsSByte() - sixteen, AdvSimd.LoadVector128(a), AdvSimd.LoadVector128(a + 16));
            acc = AdvSimd.FusedMultiplyAdd(acc, AdvSimd.ConvertToSingle(sum), Vector128.Create(Fp16.ToFloat(*(ushort*)w) * ad[i]));
        }

        return Vector128.Sum(acc);
    }

    /// <summary>Q4_1 (<paramref name="hasFifthBit"/> false) or Q5_1 · Q8_1: Σ isum·(d·d_a) + m·s, block after block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static float DotMin<TDot>(byte* w, int blockBytes, bool hasFifthBit, void* activations, int n)
        where TDot : ISignedDotArm
    {
        var a = (BlockQ8_1*)activations;
        var mask = Vector128.Create((byte)0x0F);
        var sum = 0f;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, w += blockBytes, a++)
        {
            Vector128<byte> low, high;
            if (hasFifthBit)
            {
                (low, high) = Levels(w + 8, w + 4);
            }
            else
            {
                var q = AdvSimd.LoadVector128(w + 4);
                (low, high) = (q & mask, AdvSimd.ShiftRightLogical(q, 4));
            }

            var isum = Vector128.Sum(TDot.Dot(low.AsSByte(), high.AsSByte(), AdvSimd.LoadVector128(a->Qs), AdvSimd.LoadVector128(a->Qs + 16)));
            sum += (isum * (Fp16.ToFloat(*(ushort*)w) * Fp16.ToFloat(a->D))) + (Fp16.ToFloat(*(ushort*)(w + 2)) * Fp16.ToFloat(a->S));
        }

        return sum;
    }

    /// <summary>
    /// The 32 five-bit levels of a block: nibbles of <paramref name="qs"/> (low: values 0..15, high: 16..31) with
    /// bit j of the 32-bit <paramref name="qh"/> as 0x10 of value j (ggml-common.h block_q5_0 / block_q5_1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> Low, Vector128<byte> High) Levels(byte* qs, byte* qh)
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
