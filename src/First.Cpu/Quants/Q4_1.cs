using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>Q4_1 (ggml-common.h block_q4_1): half scale d, half offset m, 16 bytes of nibbles; x = d·q + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_1
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 20;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>Offset (the block minimum), half bits.</summary>
    public ushort M;

    /// <summary>Nibbles (value j low, value 16+j high).</summary>
    public fixed byte Qs[16];
}

/// <summary>Q4_1: reference quantizer (quantize_row_q4_1_ref), dequantizer, scalar dot with Q8_1 activations.</summary>
public static unsafe partial class Q4_1
{
    /// <summary>Quantizes <paramref name="n"/> floats: d = (max − min) / 15, m = min.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ4_1*)blocks;
        for (var i = 0; i < n / BlockQ4_1.Elements; i++, x += BlockQ4_1.Elements)
        {
            var min = float.MaxValue;
            var max = -float.MaxValue;
            for (var j = 0; j < 32; j++)
            {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }

            var d = (max - min) / 15;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            y[i].M = Fp16.FromFloat(min);
            for (var j = 0; j < 16; j++)
            {
                var q0 = Math.Min(15, (int)CFloat.ToInt8(((x[j] - min) * id) + 0.5f));
                var q1 = Math.Min(15, (int)CFloat.ToInt8(((x[16 + j] - min) * id) + 0.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q4_1).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ4_1*)blocks;
        for (var i = 0; i < n / BlockQ4_1.Elements; i++, y += 32)
        {
            var d = Fp16.ToFloat(x[i].D);
            var m = Fp16.ToFloat(x[i].M);
            for (var j = 0; j < 16; j++)
            {
                y[j] = ((x[i].Qs[j] & 0x0F) * d) + m;
                y[j + 16] = ((x[i].Qs[j] >> 4) * d) + m;
            }
        }
    }

    /// <summary>Σ w·a with Q8_1 activations: d_w·d_a·Σq·a + m_w·s_a per block.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ4_1*)weights;
        var a = (BlockQ8_1*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ4_1.Elements; i++)
        {
            var isum = 0;
            for (var j = 0; j < 16; j++)
            {
                isum += ((w[i].Qs[j] & 0x0F) * a[i].Qs[j]) + ((w[i].Qs[j] >> 4) * a[i].Qs[j + 16]);
            }

            sum += (isum * (Fp16.ToFloat(w[i].D) * Fp16.ToFloat(a[i].D))) + (Fp16.ToFloat(w[i].M) * Fp16.ToFloat(a[i].S));
        }

        return sum;
    }
}
