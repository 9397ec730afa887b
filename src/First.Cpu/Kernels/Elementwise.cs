using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
        RopeAngles(pos, ropeDims, freqBase, freqScale, default, cos, sin);
        Rope(head, cos, sin, neox);
    }

    /// <summary>
    /// cos and sin of the ropeDims/2 angles of position <paramref name="pos"/> (see <see cref="Rope(Span{float}, int, int, float, float, bool)"/>):
    /// the same for every head, so a forward pass computes them once per token. <paramref name="factors"/>, when not
    /// empty, holds one divisor per angle (Llama 3's <c>rope_freqs.weight</c>, ropeDims/2 values): angle i is
    /// freqScale · (theta_i / factors[i]), the order of ggml_rope_cache_init and rope_yarn in ggml-cpu/ops.cpp.
    /// </summary>
    public static void RopeAngles(int pos, int ropeDims, float freqBase, float freqScale, ReadOnlySpan<float> factors, Span<float> cos, Span<float> sin) =>
        RopeAngles(pos, ropeDims, freqBase, freqScale, factors, 1f, cos, sin);

    /// <summary>As <see cref="RopeAngles(int, int, float, float, ReadOnlySpan{float}, Span{float}, Span{float})"/>, with cos and sin times <paramref name="mscale"/> (rope_yarn's mscale, llama.cpp's attention factor).</summary>
    public static void RopeAngles(int pos, int ropeDims, float freqBase, float freqScale, ReadOnlySpan<float> factors, float mscale, Span<float> cos, Span<float> sin)
    {
        var thetaScale = MathF.Pow(freqBase, -2f / ropeDims);
        var theta = (float)pos;
        for (var i = 0; i < ropeDims / 2; i++, theta *= thetaScale)
        {
            var t = factors.IsEmpty ? theta : theta / factors[i];
            (sin[i], cos[i]) = MathF.SinCos(freqScale * t);
            if (mscale != 1f)
            {
                cos[i] *= mscale;
                sin[i] *= mscale;
            }
        }
    }

    /// <summary>Rotates one head by angles from <see cref="RopeAngles(int, int, float, float, ReadOnlySpan{float}, float, Span{float}, Span{float})"/>.</summary>
    public static void Rope(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool neox)
    {
        var half = cos.Length;
        for (var i = 0; i < half; i++)
        {
            var (a, b) = neox ? (i, i + half) : (2 * i, (2 * i) + 1);
            var x0 = head[a];
            var x1 = head[b];
            head[a] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
            head[b] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
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

    /// <summary>
    /// SwiGLU of rows of <paramref name="width"/>: y = silu(gate) · up, silu(g) = g / (1 + exp(−g)), the values llama.cpp
    /// computes (ggml_vec_swiglu_f32, ggml-cpu/vec.cpp) in the build of <see cref="GgmlOrders.Current"/>: in each row, chunks
    /// of 16 (AVX-512) or 8 (AVX2) through that build's polynomial exp (<see cref="GgmlExp(float, GgmlOrder)"/>), the row's
    /// last width mod 16 or mod 8 through the C library's expf. Every path (Vector512, Vector256, Vector128, scalar) gives
    /// the same bits. <paramref name="y"/> may be <paramref name="gate"/>.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y, int width) =>
        SwiGlu(gate, up, y, width, GgmlOrders.Current);

    /// <summary><see cref="SwiGlu(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> in the build of <paramref name="order"/>.</summary>
    internal static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y, int width, GgmlOrder order)
    {
        if (order == GgmlOrder.Avx2)
        {
            SwiGluAvx2(gate, up, y, width);
            return;
        }

        for (var row = 0; row + width <= gate.Length; row += width)
        {
            var g = gate.Slice(row, width);
            var u = up.Slice(row, width);
            var o = y.Slice(row, width);
            var i = 0;
            for (; i + 16 <= width; i += 16)
            {
                if (Vector512.IsHardwareAccelerated)
                {
                    var x = Vector512.Create(g.Slice(i, 16));
                    (SiLU(x) * Vector512.Create(u.Slice(i, 16))).CopyTo(o.Slice(i, 16));
                }
                else if (Vector256.IsHardwareAccelerated)
                {
                    for (var h = i; h < i + 16; h += 8)
                    {
                        (SiLU(Vector256.Create(g.Slice(h, 8))) * Vector256.Create(u.Slice(h, 8))).CopyTo(o.Slice(h, 8));
                    }
                }
                else if (Vector128.IsHardwareAccelerated)
                {
                    for (var h = i; h < i + 16; h += 4)
                    {
                        (SiLU(Vector128.Create(g.Slice(h, 4))) * Vector128.Create(u.Slice(h, 4))).CopyTo(o.Slice(h, 4));
                    }
                }
                else
                {
                    for (var h = i; h < i + 16; h++)
                    {
                        o[h] = g[h] / (1f + GgmlExp(0f - g[h])) * u[h];
                    }
                }
            }

            for (; i < width; i++)
            {
                o[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
            }
        }
    }

    /// <summary>SwiGLU in the AVX2 build's order: chunks of 8 through its exp, the rest through expf.</summary>
    private static void SwiGluAvx2(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y, int width)
    {
        for (var row = 0; row + width <= gate.Length; row += width)
        {
            var g = gate.Slice(row, width);
            var u = up.Slice(row, width);
            var o = y.Slice(row, width);
            var i = 0;
            for (; i + 8 <= width; i += 8)
            {
                if (Vector256.IsHardwareAccelerated)
                {
                    (SiLUAvx2(Vector256.Create(g.Slice(i, 8))) * Vector256.Create(u.Slice(i, 8))).CopyTo(o.Slice(i, 8));
                }
                else if (Vector128.IsHardwareAccelerated)
                {
                    for (var h = i; h < i + 8; h += 4)
                    {
                        (SiLUAvx2(Vector128.Create(g.Slice(h, 4))) * Vector128.Create(u.Slice(h, 4))).CopyTo(o.Slice(h, 4));
                    }
                }
                else
                {
                    for (var h = i; h < i + 8; h++)
                    {
                        o[h] = g[h] / (1f + GgmlExpAvx2(0f - g[h])) * u[h];
                    }
                }
            }

            for (; i < width; i++)
            {
                o[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
            }
        }
    }

    /// <summary>
    /// GEGLU as llama.cpp computes it on the CPU (ggml_vec_geglu_f32 with GGML_GELU_FP16, ggml-cpu/vec.h): y = gelu(gate) · up,
    /// where gelu(x) is 0 for x ≤ −10, x for x ≥ 10, and otherwise the half-precision table of ggml's tanh-form GELU at x
    /// rounded to half (<see cref="GeluTable"/>). <paramref name="y"/> may be <paramref name="gate"/>.
    /// </summary>
    public static void GeGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        var table = GeluTable;
        for (var i = 0; i < gate.Length; i++)
        {
            var x = gate[i];
            y[i] = x <= -10f ? 0f
                : x >= 10f ? x * up[i]
                : table[BitConverter.HalfToUInt16Bits((Half)x)] * up[i];
        }
    }

    /// <summary>
    /// ggml's GELU of every half value, rounded to half and widened (ggml_cpu_init's ggml_table_gelu_f16):
    /// 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x·x))), the inner 1 + 0.044715·x·x fused into one multiply-add as GCC
    /// contracts it, tanhf from the C library.
    /// </summary>
    internal static float[] GeluTable => s_geluTable.Value;

    private static readonly Lazy<float[]> s_geluTable = new(() =>
    {
        const float coefA = 0.044715f;
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        var table = new float[65536];
        for (var h = 0; h < table.Length; h++)
        {
            var x = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            var gelu = 0.5f * x * (1f + MathF.Tanh(sqrt2OverPi * x * MathF.FusedMultiplyAdd(coefA * x, x, 1f)));
            table[h] = (float)(Half)gelu;
        }

        return table;
    });

    /// <summary>Scalar twin of <see cref="SwiGlu(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/>: the same formula element by element.</summary>
    public static void SwiGluScalar(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y, int width) =>
        SwiGluScalar(gate, up, y, width, GgmlOrders.Current);

    /// <summary>Scalar twin of <see cref="SwiGlu(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, GgmlOrder)"/>.</summary>
    internal static void SwiGluScalar(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y, int width, GgmlOrder order)
    {
        var chunk = order == GgmlOrder.Avx2 ? 8 : 16;
        for (var row = 0; row + width <= gate.Length; row += width)
        {
            for (var i = 0; i < width; i++)
            {
                var g = gate[row + i];
                var e = i < width - (width % chunk) ? GgmlExp(0f - g, order) : MathF.Exp(-g);
                y[row + i] = g / (1f + e) * up[row + i];
            }
        }
    }

    // ggml's single-precision exp (ggml_v_expf in ggml-cpu/vec.h, AVX-512 version, from ARM's optimized
    // routines): n = round(x·log2 e), b = x − n·ln2 (in two parts), exp = p(b)·2^n with a degree-5
    // polynomial p; |n| > 192 gives 0 or ∞. The constants are ggml's.
    // (C# has no hexadecimal float literals; the comments give ggml's spelling.)
    private static readonly float Shift = BitConverter.Int32BitsToSingle(0x4b400000); // 0x1.8p23
    private static readonly float Log2E = BitConverter.Int32BitsToSingle(0x3fb8aa3b); // 0x1.715476p+0
    private static readonly float Ln2Hi = BitConverter.Int32BitsToSingle(0x3f317200); // 0x1.62e4p-1
    private static readonly float Ln2Lo = BitConverter.Int32BitsToSingle(0x35bfbe8e); // 0x1.7f7d1cp-20
    private static readonly float C5 = BitConverter.Int32BitsToSingle(0x3c072010); // 0x1.0e4020p-7
    private static readonly float C4 = BitConverter.Int32BitsToSingle(0x3d2b9f17); // 0x1.573e2ep-5
    private static readonly float C3 = BitConverter.Int32BitsToSingle(0x3e2aaf33); // 0x1.555e66p-3
    private static readonly float C2 = BitConverter.Int32BitsToSingle(0x3efffedb); // 0x1.fffdb6p-2
    private static readonly float C1 = BitConverter.Int32BitsToSingle(0x3f7ffff6); // 0x1.ffffecp-1

    /// <summary>ggml's polynomial exp of one value in the build of <paramref name="order"/> (the scalar form of its vector code).</summary>
    public static float GgmlExp(float x, GgmlOrder order) => order == GgmlOrder.Avx2 ? GgmlExpAvx2(x) : GgmlExp(x);

    /// <summary>ggml's polynomial exp of one value, AVX-512 build (the scalar form of its vector code).</summary>
    public static float GgmlExp(float x)
    {
        var z = MathF.FusedMultiplyAdd(x, Log2E, Shift);
        var n = z - Shift;
        var b = MathF.FusedMultiplyAdd(-n, Ln2Lo, MathF.FusedMultiplyAdd(-n, Ln2Hi, x));
        var u = b * b;
        var j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
            u,
            MathF.FusedMultiplyAdd(C1, b, 1f));
        if (MathF.Abs(n) > 192)
        {
            return n <= 0 ? 0f : float.PositiveInfinity;
        }

        // vscalefps: j·2^n rounded once (the double product is exact).
        return (float)(j * Math.ScaleB(1.0, (int)n));
    }

    /// <summary>
    /// ggml's polynomial exp of one value as its AVX2 build computes it (ggml_v_expf for __AVX2__ in ggml-cpu/vec.h, also
    /// the NEON one): the same reduction and polynomial as <see cref="GgmlExp(float)"/>, but the degree-1 term is a plain
    /// product with no 1 added, and 2^n comes from the exponent bits: fma(j, 2^n, 2^n) for |n| ≤ 126; for 126 &lt; |n| ≤ 192
    /// 2^n in two factors s1·s2 with the fused step on s2 and one more rounding by s1; beyond 192, s1·s1 (0 or ∞).
    /// </summary>
    public static float GgmlExpAvx2(float x)
    {
        var z = MathF.FusedMultiplyAdd(x, Log2E, Shift);
        var n = z - Shift;
        var b = MathF.FusedMultiplyAdd(-n, Ln2Lo, MathF.FusedMultiplyAdd(-n, Ln2Hi, x));
        var e = (uint)BitConverter.SingleToInt32Bits(z) << 23;
        var u = b * b;
        var j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
            u,
            C1 * b);
        var an = MathF.Abs(n);
        if (!(an > 126))
        {
            var k = BitConverter.UInt32BitsToSingle(e + 0x3f800000u);
            return MathF.FusedMultiplyAdd(k, j, k);
        }

        var g = n <= 0 ? 0x82000000u : 0u;
        var s1 = BitConverter.UInt32BitsToSingle(g + 0x7f000000u);
        if (an > 192)
        {
            return s1 * s1;
        }

        var s2 = BitConverter.UInt32BitsToSingle(e - g);
        return MathF.FusedMultiplyAdd(s2, j, s2) * s1;
    }

    private static Vector512<float> SiLU(Vector512<float> x) => x / (Vector512<float>.One + Exp(Vector512<float>.Zero - x));

    private static Vector256<float> SiLU(Vector256<float> x) => x / (Vector256<float>.One + Exp(Vector256<float>.Zero - x));

    private static Vector128<float> SiLU(Vector128<float> x) => x / (Vector128<float>.One + Exp(Vector128<float>.Zero - x));

    // The vector forms of GgmlExp. 2^n is applied in two steps, 2^(n/2) and then 2^(n − n/2): the first product
    // is exact (j·2^(n/2) stays a normal float for |n| ≤ 192), the second rounds once, as vscalefps and GgmlExp's
    // double product do, also where 2^n alone is not a normal float.
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        var z = Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), Vector512.Create(Shift));
        var n = z - Vector512.Create(Shift);
        var b = Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Lo), Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C5), b, Vector512.Create(C4)), u, Vector512.FusedMultiplyAdd(Vector512.Create(C3), b, Vector512.Create(C2))),
            u,
            Vector512.FusedMultiplyAdd(Vector512.Create(C1), b, Vector512<float>.One));
        var ni = Vector512.ConvertToInt32(n);
        var n1 = ni >> 1;
        var scaled = j * ((n1 + Vector512.Create(127)) << 23).AsSingle() * ((ni - n1 + Vector512.Create(127)) << 23).AsSingle();
        var saturated = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f)), saturated, scaled);
    }

    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var z = Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), Vector256.Create(Shift));
        var n = z - Vector256.Create(Shift);
        var b = Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Lo), Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector256.FusedMultiplyAdd(
            Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(C5), b, Vector256.Create(C4)), u, Vector256.FusedMultiplyAdd(Vector256.Create(C3), b, Vector256.Create(C2))),
            u,
            Vector256.FusedMultiplyAdd(Vector256.Create(C1), b, Vector256<float>.One));
        var ni = Vector256.ConvertToInt32(n);
        var n1 = ni >> 1;
        var scaled = j * ((n1 + Vector256.Create(127)) << 23).AsSingle() * ((ni - n1 + Vector256.Create(127)) << 23).AsSingle();
        var saturated = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(n, Vector256<float>.Zero), Vector256<float>.Zero, Vector256.Create(float.PositiveInfinity));
        return Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Abs(n), Vector256.Create(192f)), saturated, scaled);
    }

    internal static Vector128<float> Exp(Vector128<float> x)
    {
        var z = Vector128.FusedMultiplyAdd(x, Vector128.Create(Log2E), Vector128.Create(Shift));
        var n = z - Vector128.Create(Shift);
        var b = Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Lo), Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector128.FusedMultiplyAdd(
            Vector128.FusedMultiplyAdd(Vector128.FusedMultiplyAdd(Vector128.Create(C5), b, Vector128.Create(C4)), u, Vector128.FusedMultiplyAdd(Vector128.Create(C3), b, Vector128.Create(C2))),
            u,
            Vector128.FusedMultiplyAdd(Vector128.Create(C1), b, Vector128<float>.One));
        var ni = Vector128.ConvertToInt32(n);
        var n1 = ni >> 1;
        var scaled = j * ((n1 + Vector128.Create(127)) << 23).AsSingle() * ((ni - n1 + Vector128.Create(127)) << 23).AsSingle();
        var saturated = Vector128.ConditionalSelect(Vector128.LessThanOrEqual(n, Vector128<float>.Zero), Vector128<float>.Zero, Vector128.Create(float.PositiveInfinity));
        return Vector128.ConditionalSelect(Vector128.GreaterThan(Vector128.Abs(n), Vector128.Create(192f)), saturated, scaled);
    }

    private static Vector256<float> SiLUAvx2(Vector256<float> x) => x / (Vector256<float>.One + ExpAvx2(Vector256<float>.Zero - x));

    private static Vector128<float> SiLUAvx2(Vector128<float> x) => x / (Vector128<float>.One + ExpAvx2(Vector128<float>.Zero - x));

    // The vector forms of GgmlExpAvx2, lane by lane the same selection as ggml's masks.
    internal static Vector256<float> ExpAvx2(Vector256<float> x)
    {
        var z = Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), Vector256.Create(Shift));
        var n = z - Vector256.Create(Shift);
        var b = Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Lo), Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Hi), x));
        var e = z.AsUInt32() << 23;
        var k = (e + Vector256.Create(0x3f800000u)).AsSingle();
        var u = b * b;
        var j = Vector256.FusedMultiplyAdd(
            Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(C5), b, Vector256.Create(C4)), u, Vector256.FusedMultiplyAdd(Vector256.Create(C3), b, Vector256.Create(C2))),
            u,
            Vector256.Create(C1) * b);
        var normal = Vector256.FusedMultiplyAdd(k, j, k);
        var an = Vector256.Abs(n);
        var c = Vector256.GreaterThan(an, Vector256.Create(126f));
        if (c == Vector256<float>.Zero)
        {
            return normal;
        }

        var g = Vector256.LessThanOrEqual(n, Vector256<float>.Zero).AsUInt32() & Vector256.Create(0x82000000u);
        var s1 = (g + Vector256.Create(0x7f000000u)).AsSingle();
        var s2 = (e - g).AsSingle();
        var wide = Vector256.ConditionalSelect(c, Vector256.FusedMultiplyAdd(s2, j, s2) * s1, normal);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(an, Vector256.Create(192f)), s1 * s1, wide);
    }

    internal static Vector128<float> ExpAvx2(Vector128<float> x)
    {
        var z = Vector128.FusedMultiplyAdd(x, Vector128.Create(Log2E), Vector128.Create(Shift));
        var n = z - Vector128.Create(Shift);
        var b = Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Lo), Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Hi), x));
        var e = z.AsUInt32() << 23;
        var k = (e + Vector128.Create(0x3f800000u)).AsSingle();
        var u = b * b;
        var j = Vector128.FusedMultiplyAdd(
            Vector128.FusedMultiplyAdd(Vector128.FusedMultiplyAdd(Vector128.Create(C5), b, Vector128.Create(C4)), u, Vector128.FusedMultiplyAdd(Vector128.Create(C3), b, Vector128.Create(C2))),
            u,
            Vector128.Create(C1) * b);
        var normal = Vector128.FusedMultiplyAdd(k, j, k);
        var an = Vector128.Abs(n);
        var c = Vector128.GreaterThan(an, Vector128.Create(126f));
        if (c == Vector128<float>.Zero)
        {
            return normal;
        }

        var g = Vector128.LessThanOrEqual(n, Vector128<float>.Zero).AsUInt32() & Vector128.Create(0x82000000u);
        var s1 = (g + Vector128.Create(0x7f000000u)).AsSingle();
        var s2 = (e - g).AsSingle();
        var wide = Vector128.ConditionalSelect(c, Vector128.FusedMultiplyAdd(s2, j, s2) * s1, normal);
        return Vector128.ConditionalSelect(Vector128.GreaterThan(an, Vector128.Create(192f)), s1 * s1, wide);
    }

    /// <summary>y = a + b (residual connections).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => TensorPrimitives.Add(a, b, y);

    /// <summary>x ·= s.</summary>
    public static void Scale(Span<float> x, float s) => TensorPrimitives.Multiply(x, s, x);
}
