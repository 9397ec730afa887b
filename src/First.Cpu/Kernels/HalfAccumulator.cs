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

    /// <summary>Each lane to the nearest half (ties to even), as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Round(Vector256<float> x)
    {
        // A normal half keeps 10 of the float's 23 fraction bits: add half an ulp of the half (minus one,
        // plus the lowest kept bit, for ties to even) and clear the 13 dropped bits. Exact for magnitudes in
        // [2^-14, 65504]; zero stays zero. Other lanes go through Half.
        var bits = x.AsUInt32();
        var rounded = (bits + Vector256.Create(0xFFFu) + ((bits >> 13) & Vector256<uint>.One)) & Vector256.Create(~0x1FFFu);
        var magnitude = Vector256.Abs(x);
        var normal = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(6.103515625e-05f)) & Vector256.LessThan(magnitude, Vector256.Create(65520f));
        var zero = Vector256.Equals(magnitude, Vector256<float>.Zero);
        if ((normal | zero).ExtractMostSignificantBits() == 0xFF)
        {
            return rounded.AsSingle();
        }

        Span<float> lanes = stackalloc float[8];
        x.CopyTo(lanes);
        for (var i = 0; i < 8; i++)
        {
            lanes[i] = (float)(Half)lanes[i];
        }

        return Vector256.Create<float>(lanes);
    }
}
