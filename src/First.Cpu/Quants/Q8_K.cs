using System.Runtime.InteropServices;

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
