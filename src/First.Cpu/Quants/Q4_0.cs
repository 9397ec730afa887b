using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>
/// Q4_0 (ggml-common.h block_q4_0): 32 values as a half scale and 16 bytes of nibbles; value j is the
/// low nibble of byte j, value 16+j the high nibble; x = d·(q − 8).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_0
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 18;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>Nibbles.</summary>
    public fixed byte Qs[16];
}

/// <summary>Q4_0: reference quantizer (quantize_row_q4_0_ref), dequantizer, scalar dot with Q8_0 activations.</summary>
public static unsafe partial class Q4_0
{
    /// <summary>Quantizes <paramref name="n"/> floats: d = (the value of largest magnitude) / −8.</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ4_0*)blocks;
        for (var i = 0; i < n / BlockQ4_0.Elements; i++, x += BlockQ4_0.Elements)
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

            var d = max / -8;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            for (var j = 0; j < 16; j++)
            {
                var q0 = Math.Min(15, (int)CFloat.ToInt8((x[j] * id) + 8.5f));
                var q1 = Math.Min(15, (int)CFloat.ToInt8((x[16 + j] * id) + 8.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q4_0).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ4_0*)blocks;
        for (var i = 0; i < n / BlockQ4_0.Elements; i++, y += 32)
        {
            var d = Fp16.ToFloat(x[i].D);
            for (var j = 0; j < 16; j++)
            {
                y[j] = ((x[i].Qs[j] & 0x0F) - 8) * d;
                y[j + 16] = ((x[i].Qs[j] >> 4) - 8) * d;
            }
        }
    }

    /// <summary>Σ w·a with activations in the <see cref="Q8Activations"/> layout.</summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ4_0*)weights;
        var q = (sbyte*)activations;
        var d = Q8Activations.Scales(activations, n);
        var sum = 0f;
        for (var i = 0; i < n / BlockQ4_0.Elements; i++, q += 32)
        {
            var isum = 0;
            for (var j = 0; j < 16; j++)
            {
                isum += (((w[i].Qs[j] & 0x0F) - 8) * q[j]) + (((w[i].Qs[j] >> 4) - 8) * q[j + 16]);
            }

            sum += isum * (Fp16.ToFloat(w[i].D) * d[i]);
        }

        return sum;
    }

    /// <summary>
    /// Σ w·a in the order of llama.cpp's x86 builds for rows it does not repack (ggml_vec_dot_q4_0_q8_0 in
    /// ggml-cpu/arch/x86/quants.c and tinyBLAS_Q0_AVX in llamafile/sgemm.cpp): eight float lanes, lane j taking
    /// fma(d_w·d_a, Σ of values 4j..4j+3 of each block, lane j), then summed as hsum_float_8 does. The twin of
    /// the x86 row kernels (<see cref="DotAvxVnni"/>, <see cref="DotAvx2"/> and their four-token forms).
    /// </summary>
    public static float DotLanesScalar(void* weights, void* activations, int n) =>
        Q8Activations.DotLanes(weights, BlockQ4_0.Size, &Value, activations, n);

    /// <summary>Value k (0..31) of a block, q − 8.</summary>
    private static int Value(byte* block, int k) => (k < 16 ? block[2 + k] & 0x0F : block[2 + k - 16] >> 4) - 8;

}
