using System.Runtime.CompilerServices;

namespace First.Cpu.Quants;

/// <summary>
/// IEEE half and bfloat16 conversions with ggml's results: float → half rounds to nearest even and
/// turns every NaN into 0x7E00 with the sign kept (ggml-impl.h, ggml_compute_fp32_to_fp16); half → float
/// is exact and read from a 65,536-entry table, as ggml's CPU backend does.
/// </summary>
public static class Fp16
{
    private static readonly float[] s_toFloat = BuildTable();

    /// <summary>The float value of half bits <paramref name="h"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h) => Unsafe.Add(ref s_toFloat[0], h);

    /// <summary>The half bits nearest to <paramref name="f"/> (ties to even; NaN → 0x7E00 | sign).</summary>
    public static ushort FromFloat(float f)
    {
        if (float.IsNaN(f))
        {
            return (ushort)(0x7E00 | ((BitConverter.SingleToUInt32Bits(f) >> 16) & 0x8000));
        }

        return BitConverter.HalfToUInt16Bits((Half)f);
    }

    /// <summary>bfloat16 → float: the 16 bits are the top half of the float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>
    /// float → bfloat16 rounding to nearest even, NaN quieted (ggml-impl.h, ggml_compute_fp32_to_bf16).
    /// </summary>
    public static ushort FloatToBF16(float f)
    {
        var u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((u >> 16) | 64); // NaN: force quiet
        }

        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    private static float[] BuildTable()
    {
        var t = new float[65536];
        for (var i = 0; i < t.Length; i++)
        {
            t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        }

        return t;
    }
}
