using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace First.Cpu.Kernels;

/// <summary>
/// The element-wise operations of a transformer layer. The fast versions use TensorPrimitives
/// (vectorized for AVX-512, AVX2 and NEON); each has a plain scalar twin the tests compare it with.
/// Formulas follow ggml's CPU operations (ggml/src/ggml-cpu/ops.cpp).
/// </summary>
public static class Elementwise
{
    /// <summary>
    /// y = x / sqrt(mean(x²) + eps) · w (ggml_rms_norm then ggml_mul). The sum of squares is accumulated
    /// in double, as ggml does. <paramref name="y"/> may be <paramref name="x"/>. Returns the scale 1 / rms(x)
    /// (the backward pass of router training needs it).
    /// </summary>
    public static float RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        var sum = 0.0;
        foreach (var v in x)
        {
            sum += v * v;
        }

        var scale = 1f / MathF.Sqrt((float)(sum / x.Length) + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
        return scale;
    }

    /// <summary>Scalar twin of <see cref="RmsNorm"/>.</summary>
    public static void RmsNormScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        var sum = 0.0;
        foreach (var v in x)
        {
            sum += v * v;
        }

        var scale = 1f / MathF.Sqrt((float)(sum / x.Length) + eps);
        for (var i = 0; i < x.Length; i++)
        {
            y[i] = x[i] * scale * weight[i];
        }
    }

    /// <summary>
    /// Rotary position embedding of one head (<paramref name="head"/>) at position <paramref name="pos"/>,
    /// over the first <paramref name="ropeDims"/> values. theta_i = pos · freqScale · base^(−2i/ropeDims), computed
    /// by repeated multiplication as ggml does. Normal layout (llama) rotates pairs (2i, 2i+1); NeoX (qwen2)
    /// rotates (i, i + ropeDims/2).
    /// </summary>
    [SkipLocalsInit]
    public static void Rope(Span<float> head, int pos, int ropeDims, float freqBase, float freqScale, bool neox)
    {
        Span<float> cos = stackalloc float[ropeDims / 2];
        Span<float> sin = stackalloc float[ropeDims / 2];
        RopeAngles(pos, ropeDims, freqBase, freqScale, cos, sin);
        Rope(head, cos, sin, neox);
    }

    /// <summary>
    /// cos and sin of the ropeDims/2 angles of position <paramref name="pos"/> (see <see cref="Rope(Span{float}, int, int, float, float, bool)"/>):
    /// the same for every head, so a forward pass computes them once per token.
    /// </summary>
    public static void RopeAngles(int pos, int ropeDims, float freqBase, float freqScale, Span<float> cos, Span<float> sin)
    {
        var thetaScale = MathF.Pow(freqBase, -2f / ropeDims);
        var theta = (float)pos;
        for (var i = 0; i < ropeDims / 2; i++, theta *= thetaScale)
        {
            (sin[i], cos[i]) = MathF.SinCos(theta * freqScale);
        }
    }

    /// <summary>Rotates one head by angles from <see cref="RopeAngles"/>.</summary>
    public static void Rope(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool neox)
    {
        var half = cos.Length;
        for (var i = 0; i < half; i++)
        {
            var (a, b) = neox ? (i, i + half) : (2 * i, (2 * i) + 1);
            var x0 = head[a];
            var x1 = head[b];
            head[a] = (x0 * cos[i]) - (x1 * sin[i]);
            head[b] = (x0 * sin[i]) + (x1 * cos[i]);
        }
    }

    /// <summary>In-place softmax: exp(x − max) / Σ.</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty)
        {
            return;
        }

        var max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        var sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Divide(x, sum, x);
    }

    /// <summary>Scalar twin of <see cref="Softmax"/>.</summary>
    public static void SoftmaxScalar(Span<float> x)
    {
        if (x.IsEmpty)
        {
            return;
        }

        var max = float.NegativeInfinity;
        foreach (var v in x)
        {
            max = MathF.Max(max, v);
        }

        var sum = 0f;
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }

        for (var i = 0; i < x.Length; i++)
        {
            x[i] /= sum;
        }
    }

    /// <summary>SwiGLU: y = silu(gate) · up with silu(g) = g·sigmoid(g). <paramref name="y"/> may be <paramref name="gate"/>.</summary>
    [SkipLocalsInit]
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        // In chunks through a stack buffer, so that y may overwrite gate.
        Span<float> sigmoid = stackalloc float[256];
        for (var i = 0; i < gate.Length; i += sigmoid.Length)
        {
            var n = Math.Min(sigmoid.Length, gate.Length - i);
            var s = sigmoid[..n];
            var g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(s, g, s);
            TensorPrimitives.Multiply(s, up.Slice(i, n), y.Slice(i, n));
        }
    }

    /// <summary>Scalar twin of <see cref="SwiGlu"/>.</summary>
    public static void SwiGluScalar(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        for (var i = 0; i < gate.Length; i++)
        {
            var g = gate[i];
            y[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>y = a + b (residual connections).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => TensorPrimitives.Add(a, b, y);

    /// <summary>x ·= s.</summary>
    public static void Scale(Span<float> x, float s) => TensorPrimitives.Multiply(x, s, x);
}
