using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Kernels;

/// <summary>
/// A vector kept at half precision while held in floats: every update is rounded to the nearest half
/// (ties to even), as ggml's ggml_vec_scale_f16 and ggml_vec_mad_f16 store their results. The vector
/// paths (<see cref="Vector{T}"/>: 256 bits with AVX2, 128 with NEON; and 512-bit pairs of heads) round by bit
/// arithmetic, with the same results as a conversion through <see cref="Half"/> for every float.
/// </summary>
internal static class HalfAccumulator
{
    /// <summary>
    /// For each position p in turn, over the <paramref name="n"/> lanes of <paramref name="y"/>: y = half(y · rescale[p])
    /// where rescale[p] ≠ 1, then y = half(x_p · weight[p] + y), with x_p the p-th row of <paramref name="rows"/>
    /// (<paramref name="n"/> floats each): ggml_vec_scale_f16 and ggml_vec_mad_f16 position by position. The lanes
    /// are independent, so each block of lanes stays in registers through all the positions. Skipping a rescale
    /// by exactly 1 changes nothing, since every lane already holds a half.
    /// </summary>
    [SkipLocalsInit]
    public static unsafe void Accumulate(float* y, int n, float* rows, float* rescale, float* weight, int positions)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // Vector<float>: 256 bits with AVX2, 128 with NEON or SSE alone. Each position's update waits for the
            // previous one's: eight blocks of lanes in flight hide that.
            var w8 = Vector<float>.Count;
            for (; i + (8 * w8) <= n; i += 8 * w8)
            {
                var a0 = Vector.Load(y + i);
                var a1 = Vector.Load(y + i + w8);
                var a2 = Vector.Load(y + i + (2 * w8));
                var a3 = Vector.Load(y + i + (3 * w8));
                var a4 = Vector.Load(y + i + (4 * w8));
                var a5 = Vector.Load(y + i + (5 * w8));
                var a6 = Vector.Load(y + i + (6 * w8));
                var a7 = Vector.Load(y + i + (7 * w8));
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        var r = new Vector<float>(rescale[p]);
                        a0 = Round(a0 * r);
                        a1 = Round(a1 * r);
                        a2 = Round(a2 * r);
                        a3 = Round(a3 * r);
                        a4 = Round(a4 * r);
                        a5 = Round(a5 * r);
                        a6 = Round(a6 * r);
                        a7 = Round(a7 * r);
                    }

                    var w = new Vector<float>(weight[p]);
                    a0 = Round(Vector.FusedMultiplyAdd(Vector.Load(x), w, a0));
                    a1 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + w8), w, a1));
                    a2 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (2 * w8)), w, a2));
                    a3 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (3 * w8)), w, a3));
                    a4 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (4 * w8)), w, a4));
                    a5 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (5 * w8)), w, a5));
                    a6 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (6 * w8)), w, a6));
                    a7 = Round(Vector.FusedMultiplyAdd(Vector.Load(x + (7 * w8)), w, a7));
                }

                a0.Store(y + i);
                a1.Store(y + i + w8);
                a2.Store(y + i + (2 * w8));
                a3.Store(y + i + (3 * w8));
                a4.Store(y + i + (4 * w8));
                a5.Store(y + i + (5 * w8));
                a6.Store(y + i + (6 * w8));
                a7.Store(y + i + (7 * w8));
            }

            for (; i + w8 <= n; i += w8)
            {
                var a = Vector.Load(y + i);
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        a = Round(a * new Vector<float>(rescale[p]));
                    }

                    a = Round(Vector.FusedMultiplyAdd(Vector.Load(x), new Vector<float>(weight[p]), a));
                }

                a.Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            var a = y[i];
            for (var p = 0; p < positions; p++)
            {
                if (rescale[p] != 1)
                {
                    a = RoundScalar(a * rescale[p]);
                }

                a = RoundScalar(MathF.FusedMultiplyAdd(rows[((long)p * n) + i], weight[p], a));
            }

            y[i] = a;
        }
    }

    /// <summary>
    /// <see cref="Accumulate"/> for <paramref name="heads"/> vectors of <paramref name="n"/> lanes (head h's at y + h·n, its
    /// factors at rescale and weight + h·<paramref name="factorStride"/>) over the same rows. With 512-bit vectors, two
    /// heads at a time share each row's loads and give sixteen independent chains of updates; every lane sees the
    /// same operations in the same order, so the results are <see cref="Accumulate"/>'s.
    /// </summary>
    public static unsafe void AccumulateHeads(float* y, int n, float* rows, float* rescale, float* weight, int factorStride, int positions, int heads)
    {
        var h = 0;
        if (Vector512.IsHardwareAccelerated && n % 32 == 0)
        {
            for (; h + 2 <= heads; h += 2)
            {
                AccumulatePair(y + (h * n), n, rows, rescale + (h * factorStride), weight + (h * factorStride), factorStride, positions);
            }
        }

        for (; h < heads; h++)
        {
            Accumulate(y + (h * n), n, rows, rescale + (h * factorStride), weight + (h * factorStride), positions);
        }
    }

    /// <summary>Two heads (y and y + n; factors <paramref name="factorStride"/> apart), n a multiple of 32.</summary>
    [SkipLocalsInit]
    private static unsafe void AccumulatePair(float* y, int n, float* rows, float* rescale, float* weight, int factorStride, int positions)
    {
        var z = y + n;
        var rescaleZ = rescale + factorStride;
        var weightZ = weight + factorStride;
        for (var i = 0; i < n; i += 32)
        {
            var a0 = Vector512.Load(y + i);
            var a1 = Vector512.Load(y + i + 16);
            var b0 = Vector512.Load(z + i);
            var b1 = Vector512.Load(z + i + 16);
            var x = rows + i;
            for (var p = 0; p < positions; p++, x += n)
            {
                if (rescale[p] != 1)
                {
                    var r = Vector512.Create(rescale[p]);
                    a0 = Round(a0 * r);
                    a1 = Round(a1 * r);
                }

                if (rescaleZ[p] != 1)
                {
                    var r = Vector512.Create(rescaleZ[p]);
                    b0 = Round(b0 * r);
                    b1 = Round(b1 * r);
                }

                var x0 = Vector512.Load(x);
                var x1 = Vector512.Load(x + 16);
                var w = Vector512.Create(weight[p]);
                var v = Vector512.Create(weightZ[p]);
                a0 = Round(Vector512.FusedMultiplyAdd(x0, w, a0));
                b0 = Round(Vector512.FusedMultiplyAdd(x0, v, b0));
                a1 = Round(Vector512.FusedMultiplyAdd(x1, w, a1));
                b1 = Round(Vector512.FusedMultiplyAdd(x1, v, b1));
            }

            a0.Store(y + i);
            a1.Store(y + i + 16);
            b0.Store(z + i);
            b1.Store(z + i + 16);
        }
    }

    /// <summary>y[i] = the nearest half of x[i], as floats.</summary>
    public static unsafe void RoundAll(float* x, float* y, int n)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                Round(Vector.Load(x + i)).Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            y[i] = RoundScalar(x[i]);
        }
    }

    /// <summary>Scalar twin: the nearest half of <paramref name="x"/>, as a float.</summary>
    public static float RoundScalar(float x) => (float)(Half)x;

    /// <summary>Each lane to the nearest half (ties to even), as floats; the same as a conversion through <see cref="Half"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<float> Round(Vector<float> x)
    {
        // A half keeps 10 fraction bits: its ulp at a float of exponent e is 2^(e − 10), and 2^-24 below 2^-14
        // (subnormal halves). Adding and taking back c = ±2^(max(e, −14) + 13), whose float ulp is that, lets the
        // float adder round to it, ties to even. From 65520 on the nearest half is infinity; NaN stays NaN
        // (x + c is NaN, and the comparison is false); the sign is put back for zeros.
        var bits = Vector.AsVectorUInt32(x);
        var sign = bits & new Vector<uint>(0x8000_0000u);
        var exponent = Vector.AsVectorUInt32(Vector.Max(Vector.AsVectorInt32(bits & new Vector<uint>(0x7F80_0000u)), new Vector<int>(0x3880_0000)));
        var c = Vector.AsVectorSingle((exponent + new Vector<uint>(13u << 23)) | sign);
        var rounded = Vector.AsVectorUInt32((x + c) - c) | sign;
        var overflow = Vector.AsVectorUInt32(Vector.GreaterThanOrEqual(Vector.Abs(x), new Vector<float>(65520f)));
        return Vector.AsVectorSingle(Vector.ConditionalSelect(overflow, sign | new Vector<uint>(0x7F80_0000u), rounded));
    }

    /// <summary><see cref="Round(Vector{float})"/> on sixteen lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Round(Vector512<float> x)
    {
        var bits = x.AsUInt32();
        var sign = bits & Vector512.Create(0x8000_0000u);
        var exponent = Vector512.Max((bits & Vector512.Create(0x7F80_0000u)).AsInt32(), Vector512.Create(0x3880_0000)).AsUInt32();
        var c = ((exponent + Vector512.Create(13u << 23)) | sign).AsSingle();
        var rounded = ((x + c) - c).AsUInt32() | sign;
        var overflow = Vector512.GreaterThanOrEqual(Vector512.Abs(x), Vector512.Create(65520f)).AsUInt32();
        return Vector512.ConditionalSelect(overflow, sign | Vector512.Create(0x7F80_0000u), rounded).AsSingle();
    }
}
