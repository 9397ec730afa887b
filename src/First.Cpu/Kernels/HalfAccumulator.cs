using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Kernels;

/// <summary>
/// A vector kept at half precision while held in floats: every update is rounded to the nearest half
/// (ties to even), as ggml's ggml_vec_scale_f16 and ggml_vec_mad_f16 store their results. The vector
/// path rounds by bit arithmetic where the result is a normal half and falls back to a conversion
/// through <see cref="Half"/> for any lane outside that range.
/// </summary>
internal static class HalfAccumulator
{
    /// <summary>y[i] = half(y[i] · s).</summary>
    public static void Scale(Span<float> y, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i + 8 <= y.Length; i += 8)
            {
                var v = Vector256.Create<float>(y.Slice(i, 8));
                Round(v * vs).CopyTo(y.Slice(i, 8));
            }
        }

        for (; i < y.Length; i++)
        {
            y[i] = (float)(Half)(y[i] * s);
        }
    }

    /// <summary>y[i] = half(x[i] · s + y[i]) with one rounding of the multiply-add.</summary>
    public static void MultiplyAdd(Span<float> y, ReadOnlySpan<float> x, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i + 8 <= y.Length; i += 8)
            {
                var v = Vector256.FusedMultiplyAdd(Vector256.Create<float>(x.Slice(i, 8)), vs, Vector256.Create<float>(y.Slice(i, 8)));
                Round(v).CopyTo(y.Slice(i, 8));
            }
        }

        for (; i < y.Length; i++)
        {
            y[i] = (float)(Half)MathF.FusedMultiplyAdd(x[i], s, y[i]);
        }
    }

    /// <summary>Scalar twin: the nearest half of <paramref name="x"/>, as a float.</summary>
    public static float RoundScalar(float x) => (float)(Half)x;

    /// <summary>Each lane to the nearest half (ties to even), as floats; the same as a conversion through <see cref="Half"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Round(Vector256<float> x)
    {
        // Normal halves keep 10 of the float's 23 fraction bits: add half an ulp of the half (minus one, plus
        // the lowest kept bit, for ties to even) and clear the 13 dropped bits. Below 2^-14 halves are
        // subnormal, multiples of 2^-24: adding and taking back 0.5, whose float ulp is 2^-24, rounds to one
        // (ties to even). From 65520 on the nearest half is infinity. NaN stays NaN.
        var sign = x.AsUInt32() & Vector256.Create(0x8000_0000u);
        var magnitude = Vector256.Abs(x);
        var bits = magnitude.AsUInt32();
        var normal = ((bits + Vector256.Create(0xFFFu) + ((bits >> 13) & Vector256<uint>.One)) & Vector256.Create(~0x1FFFu)).AsSingle();
        var subnormal = (magnitude + Vector256.Create(0.5f)) - Vector256.Create(0.5f);
        var rounded = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(6.103515625e-05f)), subnormal, normal);
        rounded = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(65520f)), Vector256.Create(float.PositiveInfinity), rounded);
        rounded = Vector256.ConditionalSelect(Vector256.Equals(x, x), rounded, x);
        return (rounded.AsUInt32() | sign).AsSingle();
    }
}
