using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>Q5_1 (ggml-common.h block_q5_1): half scale d, half offset m, fifth bits, low nibbles; x = d·q + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_1
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 24;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>Offset, half bits.</summary>
    public ushort M;

    /// <summary>Fifth bits, little-endian u32.</summary>
    public fixed byte Qh[4];

    /// <summary>Low nibbles.</summary>
    public fixed byte Qs[16];
}

/// <summary>Q5_1: reference quantizer (quantize_row_q5_1_ref), dequantizer, scalar dot with Q8_1 activations.</summary>
public static unsafe partial class Q5_1
{
    /// <summary>Quantizes <paramref name="n"/> floats: d = (max − min) / 31, m = min.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ5_1*)blocks;
        for (var i = 0; i < n / BlockQ5_1.Elements; i++, x += BlockQ5_1.Elements)
        {
            var min = float.MaxValue;
            var max = -float.MaxValue;
            for (var j = 0; j < 32; j++)
            {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }

            var d = (max - min) / 31;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            y[i].M = Fp16.FromFloat(min);
            uint qh = 0;
            for (var j = 0; j < 16; j++)
            {
                var q0 = CFloat.ToUInt8(((x[j] - min) * id) + 0.5f);
                var q1 = CFloat.ToUInt8(((x[16 + j] - min) * id) + 0.5f);
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10u) >> 4) << j;
                qh |= ((q1 & 0x10u) >> 4) << (j + 16);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(y[i].Qh, 4), qh);
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q5_1).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ5_1*)blocks;
        for (var i = 0; i < n / BlockQ5_1.Elements; i++, y += 32)
        {
            var d = Fp16.ToFloat(x[i].D);
            var m = Fp16.ToFloat(x[i].M);
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(x[i].Qh, 4));
            for (var j = 0; j < 16; j++)
            {
                var h0 = (int)((qh >> j) << 4) & 0x10;
                var h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x[i].Qs[j] & 0x0F) | h0) * d) + m;
                y[j + 16] = (((x[i].Qs[j] >> 4) | h1) * d) + m;
            }
        }
    }

    /// <summary>Σ w·a with Q8_1 activations.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ5_1*)weights;
        var a = (BlockQ8_1*)activations;
        var sum = 0f;
        for (var i = 0; i < n / BlockQ5_1.Elements; i++)
        {
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(w[i].Qh, 4));
            var isum = 0;
            for (var j = 0; j < 16; j++)
            {
                var q0 = (w[i].Qs[j] & 0x0F) | ((int)((qh >> j) << 4) & 0x10);
                var q1 = (w[i].Qs[j] >> 4) | ((int)(qh >> (j + 12)) & 0x10);
                isum += (q0 * a[i].Qs[j]) + (q1 * a[i].Qs[j + 16]);
            }

            sum += (isum * (Fp16.ToFloat(w[i].D) * Fp16.ToFloat(a[i].D))) + (Fp16.ToFloat(w[i].M) * Fp16.ToFloat(a[i].S));
        }

        return sum;
    }
}
