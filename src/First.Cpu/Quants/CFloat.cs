using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// Float-to-integer conversions as ggml's reference quantizers compute them in the x86-64 build of
/// llama.cpp, so our quantized bytes equal theirs even for extreme inputs.
/// </summary>
internal static class CFloat
{
    /// <summary>
    /// C's <c>(int)f</c> as x86-64 compiles it (cvttss2si): truncation toward zero, and 0x80000000 for
    /// NaN and values out of int range. (.NET saturates instead, which differs for NaN and ±inf.)
    /// A conversion to int8_t/uint8_t keeps the low byte of this.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TruncToInt32(float f) =>
        f >= -2147483648f && f < 2147483648f ? (int)f : int.MinValue;

    /// <summary>
    /// ggml's nearest_int (ggml-quants.c): adds 1.5 × 2^23 so the float unit rounds to nearest even, and
    /// reads the integer from the mantissa bits. Exact for |f| ≤ 4194303; deterministic bits otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float f)
    {
        var val = f + 12582912f;
        var i = BitConverter.SingleToInt32Bits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    /// <summary>C's roundf: halves away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundF(float f) => MathF.Round(f, MidpointRounding.AwayFromZero);

    /// <summary>C's <c>(int8_t)f</c> on x86-64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte ToInt8(float f) => unchecked((sbyte)TruncToInt32(f));

    /// <summary>C's <c>(uint8_t)f</c> on x86-64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte ToUInt8(float f) => unchecked((byte)TruncToInt32(f));
}
