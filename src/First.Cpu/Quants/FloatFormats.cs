using First.Cpu.Kernels;

namespace First.Cpu.Quants;

/// <summary>F32 weights with F32 activations.</summary>
public static unsafe partial class F32
{
    /// <summary>Copies floats.</summary>
    public static void Quantize(float* x, void* y, int n) => new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(y, n));

    /// <summary>Copies floats.</summary>
    public static void Dequantize(void* x, float* y, int n) => new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(y, n));

    /// <summary>Σ w·a in sequence.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (float*)weights;
        var a = (float*)activations;
        var sum = 0f;
        for (var i = 0; i < n; i++)
        {
            sum += w[i] * a[i];
        }

        return sum;
    }
}

/// <summary>
/// F16 weights. As in ggml (vec_dot_type of F16 is F16), activations are rounded to half too, so the
/// products are those llama.cpp computes.
/// </summary>
public static unsafe partial class F16
{
    /// <summary>Floats → half bits (ggml_fp32_to_fp16_row).</summary>
    public static void Quantize(float* x, void* y, int n)
    {
        var h = (ushort*)y;
        for (var i = 0; i < n; i++)
        {
            h[i] = Fp16.FromFloat(x[i]);
        }
    }

    /// <summary>Half bits → floats.</summary>
    public static void Dequantize(void* x, float* y, int n)
    {
        var h = (ushort*)x;
        for (var i = 0; i < n; i++)
        {
            y[i] = Fp16.ToFloat(h[i]);
        }
    }

    /// <summary>
    /// Σ w·a over half values in the order of <see cref="GgmlOrders.Current"/>'s build (see <see cref="DotVector(void*, void*, int)"/>):
    /// value i goes to lane i mod 64 (AVX-512) or i mod 32 (AVX2) by a fused multiply-add while whole steps remain; the
    /// lanes are then summed as ggml's reduction does, and the rest added one product at a time in double.
    /// </summary>
    public static float DotScalar(void* weights, void* activations, int n) => DotScalar(weights, activations, n, GgmlOrders.Current);

    /// <summary>The scalar twin of <see cref="DotVector(void*, void*, int, GgmlOrder)"/> for <paramref name="order"/>.</summary>
    internal static float DotScalar(void* weights, void* activations, int n, GgmlOrder order)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        var step = order == GgmlOrder.Avx2 ? 32 : 64;
        Span<float> lanes = stackalloc float[step];
        lanes.Clear();
        var np = n & ~(step - 1);
        for (var i = 0; i < np; i++)
        {
            lanes[i % step] = MathF.FusedMultiplyAdd(Fp16.ToFloat(w[i]), Fp16.ToFloat(a[i]), lanes[i % step]);
        }

        double sum = order == GgmlOrder.Avx2 ? ReduceLanes32(lanes) : ReduceLanes64(lanes);
        for (var i = np; i < n; i++)
        {
            sum += Fp16.ToFloat(w[i]) * Fp16.ToFloat(a[i]);
        }

        return (float)sum;
    }

    /// <summary>AVX-512: accumulators of 16 lanes, 0 += 2, 1 += 3, 0 += 1; then GCC's _mm512_reduce_add_ps.</summary>
    private static float ReduceLanes64(Span<float> lanes)
    {
        Span<float> acc = stackalloc float[16];
        for (var l = 0; l < 16; l++)
        {
            acc[l] = (lanes[l] + lanes[32 + l]) + (lanes[16 + l] + lanes[48 + l]);
        }

        Span<float> t = stackalloc float[8];
        for (var l = 0; l < 8; l++)
        {
            t[l] = acc[l + 8] + acc[l];
        }

        return ((t[4] + t[0]) + (t[6] + t[2])) + ((t[5] + t[1]) + (t[7] + t[3]));
    }

    /// <summary>AVX2: accumulators of 8 lanes, 0 += 2, 1 += 3, 0 += 1; then GGML_F32x8_REDUCE: halves, (0 + 1) + (2 + 3).</summary>
    private static float ReduceLanes32(Span<float> lanes)
    {
        Span<float> acc = stackalloc float[8];
        for (var l = 0; l < 8; l++)
        {
            acc[l] = (lanes[l] + lanes[16 + l]) + (lanes[8 + l] + lanes[24 + l]);
        }

        Span<float> t = stackalloc float[4];
        for (var l = 0; l < 4; l++)
        {
            t[l] = acc[l] + acc[l + 4];
        }

        return (t[0] + t[1]) + (t[2] + t[3]);
    }
}

/// <summary>BF16 weights with BF16 activations (ggml's vec_dot_type of BF16).</summary>
public static unsafe partial class BF16
{
    /// <summary>Floats → bfloat16 bits (ggml_fp32_to_bf16_row_ref: round to nearest even).</summary>
    public static void Quantize(float* x, void* y, int n)
    {
        var b = (ushort*)y;
        for (var i = 0; i < n; i++)
        {
            b[i] = Fp16.FloatToBF16(x[i]);
        }
    }

    /// <summary>bfloat16 bits → floats.</summary>
    public static void Dequantize(void* x, float* y, int n)
    {
        var b = (ushort*)x;
        for (var i = 0; i < n; i++)
        {
            y[i] = Fp16.BF16ToFloat(b[i]);
        }
    }

    /// <summary>Σ w·a over bfloat16 values, products and sum in float.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        var sum = 0f;
        for (var i = 0; i < n; i++)
        {
            sum += Fp16.BF16ToFloat(w[i]) * Fp16.BF16ToFloat(a[i]);
        }

        return sum;
    }
}
