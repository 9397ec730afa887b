using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace First.Cpu.Quants;

/// <summary>Q4_0·Q8_0 on arm64: NEON and NEON with sdot.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>NEON: nibbles to signed bytes q − 8, then widening multiplies.</summary>
    public static float DotAdvSimd(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ4_0.Elements;
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ4_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w, a)), Vector128.Create(Q8_0.Scale(w, a)));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w + BlockQ4_0.Size, a + BlockQ8_0.Size)),
                Vector128.Create(Q8_0.Scale(w + BlockQ4_0.Size, a + BlockQ8_0.Size)));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsAdvSimd(w, a)), Vector128.Create(Q8_0.Scale(w, a)));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    /// <summary>NEON with sdot.</summary>
    public static float DotAdvSimdDp(void* weights, void* activations, int n)
    {
        var w = (byte*)weights;
        var a = (byte*)activations;
        var nb = n / BlockQ4_0.Elements;
        Vector128<float> acc0 = default, acc1 = default;
        var i = 0;
        for (; i + 1 < nb; i += 2, w += 2 * BlockQ4_0.Size, a += 2 * BlockQ8_0.Size)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsDp(w, a)), Vector128.Create(Q8_0.Scale(w, a)));
            acc1 = AdvSimd.FusedMultiplyAdd(acc1, AdvSimd.ConvertToSingle(BlockSumsDp(w + BlockQ4_0.Size, a + BlockQ8_0.Size)),
                Vector128.Create(Q8_0.Scale(w + BlockQ4_0.Size, a + BlockQ8_0.Size)));
        }

        if (i < nb)
        {
            acc0 = AdvSimd.FusedMultiplyAdd(acc0, AdvSimd.ConvertToSingle(BlockSumsDp(w, a)), Vector128.Create(Q8_0.Scale(w, a)));
        }

        return Vector128.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte> Low, Vector128<sbyte> High) UnpackAdvSimd(byte* block)
    {
        var q = AdvSimd.LoadVector128(block + 2);
        var eight = Vector128.Create((sbyte)8);
        var low = (q & Vector128.Create((byte)0x0F)).AsSByte() - eight;
        var high = AdvSimd.ShiftRightLogical(q, 4).AsSByte() - eight;
        return (low, high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> BlockSumsAdvSimd(byte* w, byte* a)
    {
        var (low, high) = UnpackAdvSimd(w);
        return Q8_0.SignedDotAdvSimd(low, high, AdvSimd.LoadVector128((sbyte*)(a + 2)), AdvSimd.LoadVector128((sbyte*)(a + 18)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> BlockSumsDp(byte* w, byte* a)
    {
        var (low, high) = UnpackAdvSimd(w);
        return Q8_0.SignedDotDp(low, high, AdvSimd.LoadVector128((sbyte*)(a + 2)), AdvSimd.LoadVector128((sbyte*)(a + 18)));
    }
}
