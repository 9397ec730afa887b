using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>
/// Q8_K (ggml-common.h block_q8_K): the activation partner of the K-quants. 256 values: a float scale,
/// 256 signed bytes and the sum of each 16 of them (bsums), which the K-quants' offsets need.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_K
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 292;

    /// <summary>Values per block (QK_K).</summary>
    public const int Elements = 256;

    /// <summary>Scale (a float, not a half).</summary>
    public float D;

    /// <summary>Quants.</summary>
    public fixed sbyte Qs[256];

    /// <summary>Sums of each 16 quants.</summary>
    public fixed short Bsums[16];
}

/// <summary>Q8_K reference quantizer (quantize_row_q8_K_ref) and dequantizer.</summary>
public static unsafe class Q8_K
{
    /// <summary>Quantizes <paramref name="n"/> floats: d = (the value of largest magnitude) / −127.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_K*)blocks;
        for (var i = 0; i < n / BlockQ8_K.Elements; i++, x += BlockQ8_K.Elements)
        {
            float max = 0, amax = 0;
            for (var j = 0; j < 256; j++)
            {
                var ax = MathF.Abs(x[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = x[j];
                }
            }

            if (amax == 0)
            {
                y[i] = default;
                continue;
            }

            var iscale = -127f / max;
            for (var j = 0; j < 256; j++)
            {
                y[i].Qs[j] = unchecked((sbyte)Math.Min(127, CFloat.NearestInt(iscale * x[j])));
            }

            for (var j = 0; j < 16; j++)
            {
                var sum = 0;
                for (var k = 0; k < 16; k++)
                {
                    sum += y[i].Qs[(j * 16) + k];
                }

                y[i].Bsums[j] = (short)sum;
            }

            y[i].D = 1 / iscale;
        }
    }

    /// <summary>
    /// <see cref="Quantize"/> with 128-bit vectors (SSE/AVX or NEON), the same bytes: the largest magnitude
    /// first, then the first value that has it (as the scalar loop finds it; NaN never wins), then
    /// nearest_int's float trick lane by lane, so out-of-range and non-finite products give the scalar's bytes too.
    /// </summary>
    [SkipLocalsInit]
    public static void QuantizeVector(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_K*)blocks;
        for (var i = 0; i < n / BlockQ8_K.Elements; i++, x += BlockQ8_K.Elements)
        {
            var vmax = Vector128<float>.Zero;
            for (var j = 0; j < 256; j += 4)
            {
                var a = Vector128.Abs(Vector128.Load(x + j));
                vmax = Vector128.ConditionalSelect(Vector128.GreaterThan(a, vmax), a, vmax);
            }

            var amax = MathF.Max(MathF.Max(vmax[0], vmax[1]), MathF.Max(vmax[2], vmax[3]));
            if (amax == 0)
            {
                y[i] = default;
                continue;
            }

            var first = 0;
            for (var j = 0; j < 256; j += 4)
            {
                var hits = Vector128.Equals(Vector128.Abs(Vector128.Load(x + j)), Vector128.Create(amax)).ExtractMostSignificantBits();
                if (hits != 0)
                {
                    first = j + BitOperations.TrailingZeroCount(hits);
                    break;
                }
            }

            var iscale = -127f / x[first];
            var q = (sbyte*)y[i].Qs;
            var sums = y[i].Bsums;
            for (var j = 0; j < 256; j += 16)
            {
                var q0 = NearestIntMax127(Vector128.Load(x + j) * iscale);
                var q1 = NearestIntMax127(Vector128.Load(x + j + 4) * iscale);
                var q2 = NearestIntMax127(Vector128.Load(x + j + 8) * iscale);
                var q3 = NearestIntMax127(Vector128.Load(x + j + 12) * iscale);
                var bytes = Vector128.Narrow(Vector128.Narrow(q0, q1), Vector128.Narrow(q2, q3));
                bytes.Store(q + j);
                sums[j / 16] = (short)(Vector128.Sum(Vector128.WidenLower(Vector128.WidenLower(bytes))) + Vector128.Sum(Vector128.WidenUpper(Vector128.WidenLower(bytes)))
                    + Vector128.Sum(Vector128.WidenLower(Vector128.WidenUpper(bytes))) + Vector128.Sum(Vector128.WidenUpper(Vector128.WidenUpper(bytes))));
            }

            y[i].D = 1 / iscale;
        }
    }

    /// <summary>min(127, nearest_int(v)) per lane, nearest_int being ggml's float trick (<see cref="CFloat.NearestInt"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> NearestIntMax127(Vector128<float> v) =>
        Vector128.Min(((v + Vector128.Create(12582912f)).AsInt32() & Vector128.Create(0x007fffff)) - Vector128.Create(0x00400000), Vector128.Create(127));

    /// <summary>Blocks → floats.</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ8_K*)blocks;
        for (var i = 0; i < n / BlockQ8_K.Elements; i++)
        {
            for (var j = 0; j < 256; j++)
            {
                *y++ = x[i].D * x[i].Qs[j];
            }
        }
    }
}
