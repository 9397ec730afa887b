using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q8_1 (ggml-common.h block_q8_1): the activation partner of Q4_1 and Q5_1. Like Q8_0 plus
/// s = d·Σq, so the weights' offset m contributes m·s without touching the quants.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_1
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 36;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>d · Σ qs, half bits.</summary>
    public ushort S;

    /// <summary>Quants.</summary>
    public fixed sbyte Qs[32];
}

/// <summary>Q8_1 reference quantizer (quantize_row_q8_1_ref) and dequantizer.</summary>
public static unsafe class Q8_1
{
    /// <summary>Quantizes <paramref name="n"/> floats into n/32 blocks.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_1*)blocks;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++, x += BlockQ8_1.Elements)
        {
            var amax = 0f;
            for (var j = 0; j < 32; j++)
            {
                var a = MathF.Abs(x[j]);
                amax = amax > a ? amax : a;
            }

            var d = amax / 127;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            var sum = 0;
            for (var j = 0; j < 16; j++)
            {
                y[i].Qs[j] = CFloat.ToInt8(CFloat.RoundF(x[j] * id));
                y[i].Qs[16 + j] = CFloat.ToInt8(CFloat.RoundF(x[16 + j] * id));
                sum += y[i].Qs[j] + y[i].Qs[16 + j];
            }

            y[i].S = Fp16.FromFloat(sum * d);
        }
    }

    /// <summary>Blocks → floats (x = d·q; s is not needed).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ8_1*)blocks;
        for (var i = 0; i < n / BlockQ8_1.Elements; i++)
        {
            var d = Fp16.ToFloat(x[i].D);
            for (var j = 0; j < 32; j++)
            {
                *y++ = x[i].Qs[j] * d;
            }
        }
    }
}
