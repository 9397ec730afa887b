using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Kernels;

/// <summary>
/// A vector kept at half precision while held in floats: every update is rounded to the nearest half
/// (ties to even), as ggml's ggml_vec_scale_f16 and ggml_vec_mad_f16 store their results. The vector
/// paths (512-, 256- and, for NEON, 128-bit) round by bit arithmetic where the result is a normal half and falls back to a conversion
/// through <see cref="Half"/> for any lane outside that range.
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
        if (Vector256.IsHardwareAccelerated)
        {
            // Each position's update waits for the previous one's: eight blocks of lanes in flight hide that.
            for (; i + 64 <= n; i += 64)
            {
                var a0 = Vector256.Load(y + i);
                var a1 = Vector256.Load(y + i + 8);
                var a2 = Vector256.Load(y + i + 16);
                var a3 = Vector256.Load(y + i + 24);
                var a4 = Vector256.Load(y + i + 32);
                var a5 = Vector256.Load(y + i + 40);
                var a6 = Vector256.Load(y + i + 48);
                var a7 = Vector256.Load(y + i + 56);
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        var r = Vector256.Create(rescale[p]);
                        a0 = Round(a0 * r);
                        a1 = Round(a1 * r);
                        a2 = Round(a2 * r);
                        a3 = Round(a3 * r);
                        a4 = Round(a4 * r);
                        a5 = Round(a5 * r);
                        a6 = Round(a6 * r);
                        a7 = Round(a7 * r);
                    }

                    var w = Vector256.Create(weight[p]);
                    a0 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x), w, a0));
                    a1 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 8), w, a1));
                    a2 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 16), w, a2));
                    a3 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 24), w, a3));
                    a4 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 32), w, a4));
                    a5 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 40), w, a5));
                    a6 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 48), w, a6));
                    a7 = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x + 56), w, a7));
                }

                a0.Store(y + i);
                a1.Store(y + i + 8);
                a2.Store(y + i + 16);
                a3.Store(y + i + 24);
                a4.Store(y + i + 32);
                a5.Store(y + i + 40);
                a6.Store(y + i + 48);
                a7.Store(y + i + 56);
            }

            for (; i + 8 <= n; i += 8)
            {
                var a = Vector256.Load(y + i);
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        a = Round(a * Vector256.Create(rescale[p]));
                    }

                    a = Round(Vector256.FusedMultiplyAdd(Vector256.Load(x), Vector256.Create(weight[p]), a));
                }

                a.Store(y + i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            // NEON (and x86 without AVX2): the same, four lanes per vector, eight vectors in flight.
            for (; i + 32 <= n; i += 32)
            {
                var a0 = Vector128.Load(y + i);
                var a1 = Vector128.Load(y + i + 4);
                var a2 = Vector128.Load(y + i + 8);
                var a3 = Vector128.Load(y + i + 12);
                var a4 = Vector128.Load(y + i + 16);
                var a5 = Vector128.Load(y + i + 20);
                var a6 = Vector128.Load(y + i + 24);
                var a7 = Vector128.Load(y + i + 28);
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        var r = Vector128.Create(rescale[p]);
                        a0 = Round(a0 * r);
                        a1 = Round(a1 * r);
                        a2 = Round(a2 * r);
                        a3 = Round(a3 * r);
                        a4 = Round(a4 * r);
                        a5 = Round(a5 * r);
                        a6 = Round(a6 * r);
                        a7 = Round(a7 * r);
                    }

                    var w = Vector128.Create(weight[p]);
                    a0 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x), w, a0));
                    a1 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 4), w, a1));
                    a2 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 8), w, a2));
                    a3 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 12), w, a3));
                    a4 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 16), w, a4));
                    a5 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 20), w, a5));
                    a6 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 24), w, a6));
                    a7 = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x + 28), w, a7));
                }

                a0.Store(y + i);
                a1.Store(y + i + 4);
                a2.Store(y + i + 8);
                a3.Store(y + i + 12);
                a4.Store(y + i + 16);
                a5.Store(y + i + 20);
                a6.Store(y + i + 24);
                a7.Store(y + i + 28);
            }

            for (; i + 4 <= n; i += 4)
            {
                var a = Vector128.Load(y + i);
                var x = rows + i;
                for (var p = 0; p < positions; p++, x += n)
                {
                    if (rescale[p] != 1)
                    {
                        a = Round(a * Vector128.Create(rescale[p]));
                    }

                    a = Round(Vector128.FusedMultiplyAdd(Vector128.Load(x), Vector128.Create(weight[p]), a));
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
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                Round(Vector256.Load(x + i)).Store(y + i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 4 <= n; i += 4)
            {
                Round(Vector128.Load(x + i)).Store(y + i);
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
    internal static Vector256<float> Round(Vector256<float> x)
    {
        // A half keeps 10 fraction bits: its ulp at a float of exponent e is 2^(e − 10), and 2^-24 below 2^-14
        // (subnormal halves). Adding and taking back c = ±2^(max(e, −14) + 13), whose float ulp is that, lets the
        // float adder round to it, ties to even. From 65520 on the nearest half is infinity; NaN stays NaN
        // (x + c is NaN, and the comparison is false); the sign is put back for zeros.
        var bits = x.AsUInt32();
        var sign = bits & Vector256.Create(0x8000_0000u);
        var exponent = Vector256.Max((bits & Vector256.Create(0x7F80_0000u)).AsInt32(), Vector256.Create(0x3880_0000)).AsUInt32();
        var c = ((exponent + Vector256.Create(13u << 23)) | sign).AsSingle();
        var rounded = ((x + c) - c).AsUInt32() | sign;
        var overflow = Vector256.GreaterThanOrEqual(Vector256.Abs(x), Vector256.Create(65520f)).AsUInt32();
        return Vector256.ConditionalSelect(overflow, sign | Vector256.Create(0x7F80_0000u), rounded).AsSingle();
    }

    /// <summary><see cref="Round(Vector256{float})"/> on four lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Round(Vector128<float> x)
    {
        var bits = x.AsUInt32();
        var sign = bits & Vector128.Create(0x8000_0000u);
        var exponent = Vector128.Max((bits & Vector128.Create(0x7F80_0000u)).AsInt32(), Vector128.Create(0x3880_0000)).AsUInt32();
        var c = ((exponent + Vector128.Create(13u << 23)) | sign).AsSingle();
        var rounded = ((x + c) - c).AsUInt32() | sign;
        var overflow = Vector128.GreaterThanOrEqual(Vector128.Abs(x), Vector128.Create(65520f)).AsUInt32();
        return Vector128.ConditionalSelect(overflow, sign | Vector128.Create(0x7F80_0000u), rounded).AsSingle();
    }

    /// <summary><see cref="Round(Vector256{float})"/> on sixteen lanes.</summary>
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
