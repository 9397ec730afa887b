using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q5_0 (ggml-common.h block_q5_0): half scale, 32 fifth bits in qh (bit j for value j), 16 bytes of low
/// nibbles; x = d·(q − 16).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_0
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 22;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>Fifth bits, little-endian u32.</summary>
    public fixed byte Qh[4];

    /// <summary>Low nibbles.</summary>
    public fixed byte Qs[16];
}

/// <summary>Q5_0: reference quantizer (quantize_row_q5_0_ref), dequantizer, scalar dot with Q8_0 activations.</summary>
public static unsafe partial class Q5_0
{
    /// <summary>Quantizes <paramref name="n"/> floats: d = (the value of largest magnitude) / −16.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ5_0*)blocks;
        for (var i = 0; i < n / BlockQ5_0.Elements; i++, x += BlockQ5_0.Elements)
        {
            float amax = 0, max = 0;
            for (var j = 0; j < 32; j++)
            {
                if (amax < MathF.Abs(x[j]))
                {
                    amax = MathF.Abs(x[j]);
                    max = x[j];
                }
            }

            var d = max / -16;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            uint qh = 0;
            for (var j = 0; j < 16; j++)
            {
                var q0 = (byte)Math.Min(31, (int)CFloat.ToInt8((x[j] * id) + 16.5f));
                var q1 = (byte)Math.Min(31, (int)CFloat.ToInt8((x[16 + j] * id) + 16.5f));
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10u) >> 4) << j;
                qh |= ((q1 & 0x10u) >> 4) << (j + 16);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(y[i].Qh, 4), qh);
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q5_0).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ5_0*)blocks;
        for (var i = 0; i < n / BlockQ5_0.Elements; i++, y += 32)
        {
            var d = Fp16.ToFloat(x[i].D);
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(x[i].Qh, 4));
            for (var j = 0; j < 16; j++)
            {
                var h0 = (int)((qh >> j) << 4) & 0x10;
                var h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x[i].Qs[j] & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((x[i].Qs[j] >> 4) | h1) - 16) * d;
            }
        }
    }

    /// <summary>Σ w·a with activations in the <see cref="Q8Activations"/> layout.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ5_0*)weights;
        var q = (sbyte*)activations;
        var d = Q8Activations.Scales(activations, n);
        var sum = 0f;
        for (var i = 0; i < n / BlockQ5_0.Elements; i++, q += 32)
        {
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(w[i].Qh, 4));
            var isum = 0;
            for (var j = 0; j < 16; j++)
            {
                var q0 = ((w[i].Qs[j] & 0x0F) | ((int)((qh >> j) << 4) & 0x10)) - 16;
                var q1 = ((w[i].Qs[j] >> 4) | ((int)(qh >> (j + 12)) & 0x10)) - 16;
                isum += (q0 * q[j]) + (q1 * q[j + 16]);
            }

            sum += isum * (Fp16.ToFloat(w[i].D) * d[i]);
        }

        return sum;
    }

    /// <summary>Σ w·a in the eight-lane order of llama.cpp's x86 ggml_vec_dot_q5_0_q8_0 (see <see cref="Q8Activations.DotLanes"/>).</summary>
    public static float DotLanesScalar(void* weights, void* activations, int n) =>
        Q8Activations.DotLanes(weights, BlockQ5_0.Size, &Value, activations, n);

    /// <summary>Value k (0..31) of a block: nibble | fifth bit · 16, less 16.</summary>
    private static int Value(byte* block, int k)
    {
        var qh = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(block + 2, 4));
        var nibble = k < 16 ? block[6 + k] & 0x0F : block[6 + k - 16] >> 4;
        return (nibble | (int)((qh >> k) & 1) << 4) - 16;
    }
}
