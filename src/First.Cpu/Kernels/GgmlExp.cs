using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Kernels;

/// <summary>
/// e^x as ggml's vectorised softmax computes it (ggml-cpu/vec.h, ggml_v_expf, the AVX-512 version: ARM's
/// optimized-routines expf, 1 ulp): n = round(x·log2 e) by the 1.5·2^23 shift, b = x − n·ln 2 in two fused
/// steps, a degree-5 polynomial in b by fused multiply-adds, scaled by 2^n (vscalefps: one rounding, also into
/// the subnormals); |n| &gt; 192 gives +∞ or 0. llama.cpp's tiled flash attention takes its probabilities from
/// it, so every lane here gives that function's bits: <see cref="Scalar"/> is the reference, the vector forms
/// its twins.
/// </summary>
internal static class GgmlExp
{
    private static float Shift => 12582912f; // 0x1.8p23

    private static float Log2E => BitConverter.Int32BitsToSingle(0x3FB8AA3B); // 0x1.715476p+0

    private static float Ln2Hi => BitConverter.Int32BitsToSingle(0x3F317200); // 0x1.62e4p-1

    private static float Ln2Lo => BitConverter.Int32BitsToSingle(0x35BFBE8E); // 0x1.7f7d1cp-20

    private static float C5 => BitConverter.Int32BitsToSingle(0x3C072010); // 0x1.0e4020p-7

    private static float C4 => BitConverter.Int32BitsToSingle(0x3D2B9F17); // 0x1.573e2ep-5

    private static float C3 => BitConverter.Int32BitsToSingle(0x3E2AAF33); // 0x1.555e66p-3

    private static float C2 => BitConverter.Int32BitsToSingle(0x3EFFFEDB); // 0x1.fffdb6p-2

    private static float C1 => BitConverter.Int32BitsToSingle(0x3F7FFFF6); // 0x1.ffffecp-1

    /// <summary>The reference, one value.</summary>
    public static float Scalar(float x)
    {
        var n = MathF.FusedMultiplyAdd(x, Log2E, Shift) - Shift;
        var b = MathF.FusedMultiplyAdd(-n, Ln2Lo, MathF.FusedMultiplyAdd(-n, Ln2Hi, x));
        var u = b * b;
        var j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
            u,
            MathF.FusedMultiplyAdd(C1, b, 1f));
        if (MathF.Abs(n) > 192f)
        {
            return n <= 0 ? 0f : float.PositiveInfinity;
        }

        return MathF.ScaleB(j, (int)n); // one rounding, as vscalefps (ScaleB splits the scale so that only its last step rounds)
    }

    /// <summary>Sixteen values (AVX-512: vscalefps itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Vector(Vector512<float> x)
    {
        var (n, j) = Polynomial(x);
        var res = Avx512F.Scale(j, n);
        var d = Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f));
        return Vector512.ConditionalSelect(d, Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity)), res);
    }

    /// <summary>Four values, on any host: 2^n applied in two exact-or-once-rounded steps, as <see cref="Scalar"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Vector(Vector128<float> x)
    {
        var (n, j) = Polynomial(x);
        // j is in [0.7, 1.5]: j·2^−102 and j·2^127 are exact, and the rest of the scale is a normal power of two.
        var low = Vector128.LessThan(n, Vector128.Create(-126f));
        var high = Vector128.GreaterThan(n, Vector128.Create(127f));
        var first = Vector128.ConditionalSelect(low, Vector128.Create(BitConverter.Int32BitsToSingle((127 - 102) << 23)), Vector128.ConditionalSelect(high, Vector128.Create(BitConverter.Int32BitsToSingle((127 + 127) << 23)), Vector128<float>.One));
        var rest = n + Vector128.ConditionalSelect(low, Vector128.Create(102f), Vector128.ConditionalSelect(high, Vector128.Create(-127f), Vector128<float>.Zero));
        var big = Vector128.GreaterThan(Vector128.Abs(n), Vector128.Create(192f));
        rest = Vector128.ConditionalSelect(big, Vector128<float>.Zero, rest); // keeps the exponent field in range; those lanes are replaced below
        var power = Vector128.ShiftLeft(Vector128.ConvertToInt32(rest) + Vector128.Create(127), 23).AsSingle();
        var res = j * first * power;
        return Vector128.ConditionalSelect(big, Vector128.ConditionalSelect(Vector128.LessThanOrEqual(n, Vector128<float>.Zero), Vector128<float>.Zero, Vector128.Create(float.PositiveInfinity)), res);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> N, Vector512<float> J) Polynomial(Vector512<float> x)
    {
        var n = Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), Vector512.Create(Shift)) - Vector512.Create(Shift);
        var b = Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Lo), Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C5), b, Vector512.Create(C4)), u, Vector512.FusedMultiplyAdd(Vector512.Create(C3), b, Vector512.Create(C2))),
            u,
            Vector512.FusedMultiplyAdd(Vector512.Create(C1), b, Vector512<float>.One));
        return (n, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<float> N, Vector128<float> J) Polynomial(Vector128<float> x)
    {
        var n = Vector128.FusedMultiplyAdd(x, Vector128.Create(Log2E), Vector128.Create(Shift)) - Vector128.Create(Shift);
        var b = Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Lo), Vector128.FusedMultiplyAdd(-n, Vector128.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector128.FusedMultiplyAdd(
            Vector128.FusedMultiplyAdd(Vector128.FusedMultiplyAdd(Vector128.Create(C5), b, Vector128.Create(C4)), u, Vector128.FusedMultiplyAdd(Vector128.Create(C3), b, Vector128.Create(C2))),
            u,
            Vector128.FusedMultiplyAdd(Vector128.Create(C1), b, Vector128<float>.One));
        return (n, j);
    }
}
