using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q4_K (ggml-common.h block_q4_K): 256 values in eight groups of 32; half super-scales d and dmin,
/// six-bit scale and min per group packed in 12 bytes, 128 bytes of nibbles (each 32 bytes hold two
/// groups: low nibbles the first, high nibbles the second); x = d·sc·q − dmin·m.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_K
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 144;

    /// <summary>Values per block.</summary>
    public const int Elements = 256;

    /// <summary>Super-scale of the scales, half bits.</summary>
    public ushort D;

    /// <summary>Super-scale of the mins, half bits.</summary>
    public ushort DMin;

    /// <summary>Packed six-bit scales and mins.</summary>
    public fixed byte Scales[12];

    /// <summary>Nibbles.</summary>
    public fixed byte Qs[128];
}

/// <summary>Q4_K: reference quantizer (quantize_row_q4_K_ref), dequantizer, scalar dot with Q8_K activations.</summary>
public static unsafe partial class Q4_K
{
    /// <summary>Quantizes <paramref name="n"/> floats (n a multiple of 256).</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ4_K*)blocks;
        var levels = stackalloc byte[256];
        for (var i = 0; i < n / BlockQ4_K.Elements; i++, x += BlockQ4_K.Elements)
        {
            KQuants.QuantizeScaleMinGroups(x, 15, -1f, 20, y[i].Scales, out y[i].D, out y[i].DMin, levels);

            var q = y[i].Qs;
            for (var j = 0; j < 256; j += 64, q += 32)
            {
                for (var l = 0; l < 32; l++)
                {
                    q[l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
                }
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q4_K).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ4_K*)blocks;
        for (var i = 0; i < n / BlockQ4_K.Elements; i++)
        {
            var d = Fp16.ToFloat(x[i].D);
            var min = Fp16.ToFloat(x[i].DMin);
            var q = x[i].Qs;
            for (var j = 0; j < 8; j += 2, q += 32)
            {
                KQuants.ScaleMin(j, x[i].Scales, out var sc1, out var m1);
                KQuants.ScaleMin(j + 1, x[i].Scales, out var sc2, out var m2);
                float d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
                for (var l = 0; l < 32; l++) *y++ = (d1 * (q[l] & 0xF)) - mm1;
                for (var l = 0; l < 32; l++) *y++ = (d2 * (q[l] >> 4)) - mm2;
            }
        }
    }

    /// <summary>Σ w·a with Q8_K activations: d·da·Σ_g sc_g·Σ q·a − dmin·da·Σ_g m_g·(Σ a of group g).</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ4_K*)weights;
        var a = (BlockQ8_K*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ4_K.Elements; i++)
        {
            int isum = 0, msum = 0;
            for (var g = 0; g < 8; g++)
            {
                KQuants.ScaleMin(g, w[i].Scales, out var sc, out var m);
                var q = w[i].Qs + (32 * (g / 2));
                var shift = 4 * (g & 1);
                var gsum = 0;
                for (var l = 0; l < 32; l++)
                {
                    gsum += ((q[l] >> shift) & 0xF) * a[i].Qs[(32 * g) + l];
                }

                isum += sc * gsum;
                msum += m * (a[i].Bsums[2 * g] + a[i].Bsums[(2 * g) + 1]);
            }

            sum += (Fp16.ToFloat(w[i].D) * a[i].D * isum) - (Fp16.ToFloat(w[i].DMin) * a[i].D * msum);
        }

        return sum;
    }
}
