using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>F32·F32 with portable vectors.</summary>
public static unsafe partial class F32
{
    /// <summary>TensorPrimitives.Dot: AVX-512, AVX2 or NEON, whatever the host has.</summary>
    public static float DotVector(void* weights, void* activations, int n) =>
        TensorPrimitives.Dot(new ReadOnlySpan<float>(weights, n), new ReadOnlySpan<float>(activations, n));
}

/// <summary>F16·F16 with portable vectors: halves widened to floats with integer operations (exact for finite halves).</summary>
public static unsafe partial class F16
{
    /// <summary>Eight halves at a time into floats, multiplied and summed in float lanes.</summary>
    public static float DotVector(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        var acc0 = Vector128<float>.Zero;
        var acc1 = Vector128<float>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var hw = Vector128.Load(w + i);
            var ha = Vector128.Load(a + i);
            acc0 += Fp16.ToFloat(Vector128.WidenLower(hw)) * Fp16.ToFloat(Vector128.WidenLower(ha));
            acc1 += Fp16.ToFloat(Vector128.WidenUpper(hw)) * Fp16.ToFloat(Vector128.WidenUpper(ha));
        }

        var sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            sum += Fp16.ToFloat(w[i]) * Fp16.ToFloat(a[i]);
        }

        return sum;
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
