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

    /// <summary>Σ w·a over half values, products and sum in float.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (ushort*)weights;
        var a = (ushort*)activations;
        var sum = 0f;
        for (var i = 0; i < n; i++)
        {
            sum += Fp16.ToFloat(w[i]) * Fp16.ToFloat(a[i]);
        }

        return sum;
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
