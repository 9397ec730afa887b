using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using First.Cpu.Kernels;

namespace First.Cpu.Quants;

/// <summary>F32·F32 with portable vectors.</summary>
public static unsafe partial class F32
{
    /// <summary>TensorPrimitives.Dot: AVX-512, AVX2 or NEON, whatever the host has.</summary>
    public static float DotVector(void* weights, void* activations, int n) =>
        TensorPrimitives.Dot(new ReadOnlySpan<float>(weights, n), new ReadOnlySpan<float>(activations, n));
}

/// <summary>
/// F16·F16 in the order of llama.cpp's build for the running CPU (ggml_vec_dot_f16, ggml-cpu/vec.cpp with the
/// GGML_F32Cx16 or GGML_F32Cx8 mappings of simd-mappings.h; <see cref="GgmlOrders.Current"/>). AVX-512: four
/// accumulators of sixteen float lanes take 64 values per step with fused multiply-adds; they are added (0+2, 1+3,
/// then 0+1) and the sixteen lanes reduced as GCC's _mm512_reduce_add_ps does. AVX2: four accumulators of eight
/// lanes take 32 values per step, are added the same way, and GGML_F32x8_REDUCE folds the eight lanes: halves,
/// then two hadds. In both, the products past the last whole step are added one by one in double. Halves are
/// widened with integer operations (exact for finite halves). The 16-lane accumulators are two Vector256 halves,
/// so every path computes the same bits.
/// </summary>
public static unsafe partial class F16
{
    /// <summary>Σ w·a in the order of <see cref="GgmlOrders.Current"/> (see the class).</summary>
    public static float DotVector(void* weights, void* activations, int n) => DotVector(weights, activations, n, GgmlOrders.Current);

    /// <summary>Σ w·a in the order of <paramref name="order"/>'s build.</summary>
    internal static float DotVector(void* weights, void* activations, int n, GgmlOrder order) =>
        order == GgmlOrder.Avx2 ? DotVectorAvx2(weights, activations, n) : DotVectorAvx512(weights, activations, n);

    private static float DotVectorAvx512(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        var np = n & ~63;
        for (var i = 0; i < np; i += 64)
        {
            s0 = Vector256.FusedMultiplyAdd(Load(w + i), Load(a + i), s0);
            s1 = Vector256.FusedMultiplyAdd(Load(w + i + 8), Load(a + i + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(Load(w + i + 16), Load(a + i + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(Load(w + i + 24), Load(a + i + 24), s3);
            s4 = Vector256.FusedMultiplyAdd(Load(w + i + 32), Load(a + i + 32), s4);
            s5 = Vector256.FusedMultiplyAdd(Load(w + i + 40), Load(a + i + 40), s5);
            s6 = Vector256.FusedMultiplyAdd(Load(w + i + 48), Load(a + i + 48), s6);
            s7 = Vector256.FusedMultiplyAdd(Load(w + i + 56), Load(a + i + 56), s7);
        }

        // Accumulator j is (s[2j], s[2j+1]): 0 += 2, 1 += 3, 0 += 1.
        var lo = (s0 + s4) + (s2 + s6);
        var hi = (s1 + s5) + (s3 + s7);
        double sum = ReduceAdd16(lo, hi);
        for (var i = np; i < n; i++)
        {
            sum += Fp16.ToFloat(w[i]) * Fp16.ToFloat(a[i]);
        }

        return (float)sum;
    }

    private static float DotVectorAvx2(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        var np = n & ~31;
        for (var i = 0; i < np; i += 32)
        {
            s0 = Vector256.FusedMultiplyAdd(Load(w + i), Load(a + i), s0);
            s1 = Vector256.FusedMultiplyAdd(Load(w + i + 8), Load(a + i + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(Load(w + i + 16), Load(a + i + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(Load(w + i + 24), Load(a + i + 24), s3);
        }

        double sum = ReduceAdd8((s0 + s2) + (s1 + s3));
        for (var i = np; i < n; i++)
        {
            sum += Fp16.ToFloat(w[i]) * Fp16.ToFloat(a[i]);
        }

        return (float)sum;
    }

    /// <summary>Eight lanes summed as GGML_F32x8_REDUCE's last steps: t = low half + high half, then (t0 + t1) + (t2 + t3) by two hadds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ReduceAdd8(Vector256<float> s)
    {
        var t = s.GetLower() + s.GetUpper();
        return (t.GetElement(0) + t.GetElement(1)) + (t.GetElement(2) + t.GetElement(3));
    }

    /// <summary>Sixteen lanes (lo = 0..7, hi = 8..15) summed as GCC's _mm512_reduce_add_ps: halves, quarters, then (0 + 2) + (1 + 3).</summary>
    internal static float ReduceAdd16(Vector256<float> lo, Vector256<float> hi)
    {
        var t3 = hi + lo;
        return ReduceAdd4(t3.GetUpper() + t3.GetLower());
    }

    /// <summary>The last step of <see cref="ReduceAdd16"/>: four lanes summed (0 + 2) + (1 + 3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ReduceAdd4(Vector128<float> u) => (u.GetElement(0) + u.GetElement(2)) + (u.GetElement(1) + u.GetElement(3));

    private static Vector256<float> Load(ushort* h)
    {
        var v = Vector128.Load(h);
        return Vector256.Create(Fp16.ToFloat(Vector128.WidenLower(v)), Fp16.ToFloat(Vector128.WidenUpper(v)));
    }
}

/// <summary>BF16·BF16 with portable vectors: a bfloat16 is the top half of a float.</summary>
public static unsafe partial class BF16
{
    /// <summary>Eight values at a time, widened by a shift.</summary>
    public static float DotVector(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        var acc0 = Vector128<float>.Zero;
        var acc1 = Vector128<float>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var bw = Vector128.Load(w + i);
            var ba = Vector128.Load(a + i);
            acc0 += (Vector128.WidenLower(bw) << 16).AsSingle() * (Vector128.WidenLower(ba) << 16).AsSingle();
            acc1 += (Vector128.WidenUpper(bw) << 16).AsSingle() * (Vector128.WidenUpper(ba) << 16).AsSingle();
        }

        var sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            sum += Fp16.BF16ToFloat(w[i]) * Fp16.BF16ToFloat(a[i]);
        }

        return sum;
    }
}
