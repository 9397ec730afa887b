using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_K (ggml-common.h block_q5_K): Q4_K plus a fifth bit per value in qh (bit 2k of qh[l] for group 2k,
/// bit 2k+1 for group 2k+1); x = d·sc·q − dmin·m with q in 0..31.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_K
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 176;

    /// <summary>Values per block.</summary>
    public const int Elements = 256;

    /// <summary>Super-scale of the scales, half bits.</summary>
    public ushort D;

    /// <summary>Super-scale of the mins, half bits.</summary>
    public ushort DMin;

    /// <summary>Packed six-bit scales and mins.</summary>
    public fixed byte Scales[12];

    /// <summary>Fifth bits.</summary>
    public fixed byte Qh[32];

    /// <summary>Low nibbles.</summary>
    public fixed byte Qs[128];
}

/// <summary>Q5_K: reference quantizer (quantize_row_q5_K_ref), dequantizer, scalar dot with Q8_K activations.</summary>
public static unsafe partial class Q5_K
{
    /// <summary>Quantizes <paramref name="n"/> floats (n a multiple of 256).</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ5_K*)blocks;
        var levels = stackalloc byte[256];
        for (var i = 0; i < n / BlockQ5_K.Elements; i++, x += BlockQ5_K.Elements)
        {
            KQuants.QuantizeScaleMinGroups(x, 31, -0.5f, 15, y[i].Scales, out y[i].D, out y[i].DMin, levels);

            var qh = y[i].Qh;
            var ql = y[i].Qs;
            new Span<byte>(qh, 32).Clear();
            byte m1 = 1, m2 = 2;
            for (var j = 0; j < 256; j += 64, ql += 32)
            {
                for (var l = 0; l < 32; l++)
                {
                    int l1 = levels[j + l], l2 = levels[j + l + 32];
                    if (l1 > 15)
                    {
                        l1 -= 16;
                        qh[l] |= m1;
                    }

                    if (l2 > 15)
                    {
                        l2 -= 16;
                        qh[l] |= m2;
                    }

                    ql[l] = (byte)(l1 | (l2 << 4));
                }

                m1 <<= 2;
                m2 <<= 2;
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q5_K).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ5_K*)blocks;
        for (var i = 0; i < n / BlockQ5_K.Elements; i++)
        {
            var d = Fp16.ToFloat(x[i].D);
            var min = Fp16.ToFloat(x[i].DMin);
            var ql = x[i].Qs;
            var qh = x[i].Qh;
            byte u1 = 1, u2 = 2;
            for (var j = 0; j < 8; j += 2, ql += 32)
            {
                KQuants.ScaleMin(j, x[i].Scales, out var sc1, out var m1);
                KQuants.ScaleMin(j + 1, x[i].Scales, out var sc2, out var m2);
                float d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
                for (var l = 0; l < 32; l++) *y++ = (d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0))) - mm1;
                for (var l = 0; l < 32; l++) *y++ = (d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0))) - mm2;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }

    /// <summary>Σ w·a with Q8_K activations, as for Q4_K with five-bit quants.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ5_K*)weights;
        var a = (BlockQ8_K*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ5_K.Elements; i++)
        {
            int isum = 0, msum = 0;
            for (var g = 0; g < 8; g++)
            {
                KQuants.ScaleMin(g, w[i].Scales, out var sc, out var m);
                var ql = w[i].Qs + (32 * (g / 2));
                var shift = 4 * (g & 1);
                var gsum = 0;
                for (var l = 0; l < 32; l++)
                {
                    var q = ((ql[l] >> shift) & 0xF) | (((w[i].Qh[l] >> g) & 1) << 4);
                    gsum += q * a[i].Qs[(32 * g) + l];
                }

                isum += sc * gsum;
                msum += m * (a[i].Bsums[2 * g] + a[i].Bsums[(2 * g) + 1]);
            }

            sum += (Fp16.ToFloat(w[i].D) * a[i].D * isum) - (Fp16.ToFloat(w[i].DMin) * a[i].D * msum);
        }

        return sum;
    }
}
