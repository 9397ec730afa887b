using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q6_K (ggml-common.h block_q6_K): 256 values in sixteen groups of 16; low nibbles in ql, high two bits
/// in qh, a signed byte scale per group, a half super-scale; x = d·sc·(q − 32).
/// Layout per 128 values: ql[l] holds values l (low) and l+64 (high), ql[l+32] values l+32 and l+96,
/// qh[l] the high bits of l, l+32, l+64, l+96 at shifts 0, 2, 4, 6.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ6_K
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 210;

    /// <summary>Values per block.</summary>
    public const int Elements = 256;

    /// <summary>Low four bits.</summary>
    public fixed byte Ql[128];

    /// <summary>High two bits.</summary>
    public fixed byte Qh[64];

    /// <summary>Group scales.</summary>
    public fixed sbyte Scales[16];

    /// <summary>Super-scale, half bits.</summary>
    public ushort D;
}

/// <summary>Q6_K: reference quantizer (quantize_row_q6_K_ref), dequantizer, scalar dot with Q8_K activations.</summary>
public static unsafe partial class Q6_K
{
    /// <summary>Quantizes <paramref name="n"/> floats (n a multiple of 256).</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ6_K*)blocks;
        var levels = stackalloc sbyte[256];
        var scales = stackalloc float[16];
        for (var i = 0; i < n / BlockQ6_K.Elements; i++, x += BlockQ6_K.Elements)
        {
            float maxScale = 0, maxAbsScale = 0;
            for (var g = 0; g < 16; g++)
            {
                var scale = KQuants.MakeQxQuants(16, 32, x + (16 * g), levels + (16 * g));
                scales[g] = scale;
                var abs = MathF.Abs(scale);
                if (abs > maxAbsScale)
                {
                    maxAbsScale = abs;
                    maxScale = scale;
                }
            }

            if (maxAbsScale < KQuants.GroupMaxEps)
            {
                y[i] = default;
                continue;
            }

            var iscale = -128f / maxScale;
            y[i].D = Fp16.FromFloat(1 / iscale);
            for (var g = 0; g < 16; g++)
            {
                y[i].Scales[g] = unchecked((sbyte)Math.Min(127, CFloat.NearestInt(iscale * scales[g])));
            }

            for (var g = 0; g < 16; g++)
            {
                var d = Fp16.ToFloat(y[i].D) * y[i].Scales[g];
                if (d == 0)
                {
                    continue;
                }

                for (var l = 0; l < 16; l++)
                {
                    levels[(16 * g) + l] = (sbyte)(Math.Max(-32, Math.Min(31, CFloat.NearestInt(x[(16 * g) + l] / d))) + 32);
                }
            }

            var ql = y[i].Ql;
            var qh = y[i].Qh;
            for (var j = 0; j < 256; j += 128, ql += 64, qh += 32)
            {
                for (var l = 0; l < 32; l++)
                {
                    var q1 = levels[j + l] & 0xF;
                    var q2 = levels[j + l + 32] & 0xF;
                    var q3 = levels[j + l + 64] & 0xF;
                    var q4 = levels[j + l + 96] & 0xF;
                    ql[l] = (byte)(q1 | (q3 << 4));
                    ql[l + 32] = (byte)(q2 | (q4 << 4));
                    qh[l] = (byte)((levels[j + l] >> 4) | ((levels[j + l + 32] >> 4) << 2) | ((levels[j + l + 64] >> 4) << 4) | ((levels[j + l + 96] >> 4) << 6));
                }
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q6_K).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ6_K*)blocks;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++)
        {
            var d = Fp16.ToFloat(x[i].D);
            for (var half = 0; half < 2; half++, y += 128)
            {
                var ql = x[i].Ql + (64 * half);
                var qh = x[i].Qh + (32 * half);
                var sc = x[i].Scales + (8 * half);
                for (var l = 0; l < 32; l++)
                {
                    var s = l / 16;
                    y[l] = d * sc[s] * (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                    y[l + 32] = d * sc[s + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    y[l + 64] = d * sc[s + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    y[l + 96] = d * sc[s + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }
        }
    }

    /// <summary>The six-bit level of value <paramref name="v"/> (0..255) of a block, minus 32.</summary>
    internal static int Level(BlockQ6_K* b, int v)
    {
        var half = v / 128;
        var r = v % 128;
        var l = r % 32;
        var quarter = r / 32; // 0: low nibble of ql[l], 1: low of ql[l+32], 2: high of ql[l], 3: high of ql[l+32]
        var ql = b->Ql[(64 * half) + l + (32 * (quarter & 1))];
        var low = quarter < 2 ? ql & 0xF : ql >> 4;
        var high = (b->Qh[(32 * half) + l] >> (2 * quarter)) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>Σ w·a with Q8_K activations: d·da·Σ_g sc_g·Σ (q − 32)·a.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ6_K*)weights;
        var a = (BlockQ8_K*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ6_K.Elements; i++)
        {
            var isum = 0;
            for (var g = 0; g < 16; g++)
            {
                var gsum = 0;
                for (var l = 0; l < 16; l++)
                {
                    var v = (16 * g) + l;
                    gsum += Level(w + i, v) * a[i].Qs[v];
                }

                isum += w[i].Scales[g] * gsum;
            }

            sum += Fp16.ToFloat(w[i].D) * a[i].D * isum;
        }

        return sum;
    }
}
