using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>
/// IEEE half and bfloat16 conversions with ggml's results: float → half rounds to nearest even and
/// turns every NaN into 0x7E00 with the sign kept (ggml-impl.h, ggml_compute_fp32_to_fp16); half → float
/// is exact.
/// </summary>
public static class Fp16
{
    /// <summary>2^112: moves a half's exponent, placed in a float's exponent field, to the float bias (127 − 15).</summary>
    private const uint Pow2To112Bits = (127 + 112) << 23;

    /// <summary>
    /// The float value of half bits <paramref name="h"/>. The magnitude bits shifted into a float and
    /// multiplied by 2^112 give the exact value of every finite half, subnormals included (the product
    /// of a float by a power of two is exact); infinities and NaNs take the float's all-ones exponent
    /// with the half's mantissa (NaNs quieted), by a select rather than a branch: a call on a rare path (the conversion
    /// through Half) made the JIT save every vector register around it in the kernels that inline this.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h)
    {
        var magnitude = (uint)(h & 0x7FFF);
        var finite = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(magnitude << 13) * BitConverter.UInt32BitsToSingle(Pow2To112Bits));
        var special = 0x7F800000 | (magnitude << 13) | (magnitude > 0x7C00 ? 0x00400000u : 0); // NaNs quieted, as vcvtph2ps and Half do
        var bits = magnitude >= 0x7C00 ? special : finite;
        return BitConverter.UInt32BitsToSingle(bits | ((uint)(h & 0x8000) << 16));
    }
    /// <summary>
    /// Every half's float value, indexed by its bits (256 KiB, built on first use): one load per scale where
    /// .NET exposes no half conversion instruction (there is no F16C class). ggml keeps the same table for
    /// CPUs without one (ggml_table_f32_f16).
    /// </summary>
    public static unsafe float* Table => HalfTable.Values;

    /// <summary>Four halves (the low 16 bits of each lane) → floats, as <see cref="ToFloat(ushort)"/> for finite values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToFloat(Vector128<uint> h)
    {
        var magnitude = ((h & Vector128.Create(0x7FFFu)) << 13).AsSingle() * Vector128.Create(BitConverter.UInt32BitsToSingle(Pow2To112Bits));
        return (magnitude.AsUInt32() | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>
    /// y[i] = the float value of half bits h[i], for every half (infinities and NaNs too): eight at a time with
    /// <see cref="ToFloat(Vector128{uint})"/>, a block holding an infinity or NaN and the tail one by one. About
    /// twice as fast as TensorPrimitives.ConvertToSingle on halves (0.07 against 0.16 ns per value, Zen 5).
    /// </summary>
    public static unsafe void ToFloats(ushort* h, float* y, int n)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector128.Load(h + i);
                if (Vector128.GreaterThanOrEqualAny(v & Vector128.Create((ushort)0x7FFF), Vector128.Create((ushort)0x7C00)))
                {
                    for (var k = i; k < i + 8; k++)
                    {
                        y[k] = ToFloat(h[k]);
                    }

                    continue;
                }

                ToFloat(Vector128.WidenLower(v)).Store(y + i);
                ToFloat(Vector128.WidenUpper(v)).Store(y + i + 4);
            }
        }

        for (; i < n; i++)
        {
            y[i] = ToFloat(h[i]);
        }
    }

    /// <summary>Eight halves (the low 16 bits of each lane) → floats, as <see cref="ToFloat(ushort)"/> for finite values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToFloat(Vector256<uint> h)
    {
        var magnitude = ((h & Vector256.Create(0x7FFFu)) << 13).AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(Pow2To112Bits));
        return (magnitude.AsUInt32() | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

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
}

/// <summary>Holder of <see cref="Fp16.Table"/>, so that the table is built only when a kernel first needs it.</summary>
internal static unsafe class HalfTable
{
    public static readonly float* Values = Build();

    private static float* Build()
    {
        var table = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (var h = 0; h < 65536; h++)
        {
            table[h] = Fp16.ToFloat((ushort)h);
        }

        return table;
    }
}
