using System.Runtime.InteropServices;

namespace First.Cpu.Quants;

/// <summary>Q8_0 (ggml-common.h block_q8_0): 32 values as a half scale and 32 signed bytes; x = d·q.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_0
{
    /// <summary>Bytes per block.</summary>
    public const int Size = 34;

    /// <summary>Values per block.</summary>
    public const int Elements = 32;

    /// <summary>Scale, half bits.</summary>
    public ushort D;

    /// <summary>Quants.</summary>
    public fixed sbyte Qs[32];
}

/// <summary>Q8_0: reference quantizer (bit-exact with quantize_row_q8_0_ref), dequantizer, scalar dot with Q8_0 activations.</summary>
public static unsafe partial class Q8_0
{
    /// <summary>Quantizes <paramref name="n"/> floats into n/32 blocks (ggml-quants.c, quantize_row_q8_0_ref).</summary>
    public static void Quantize(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_0*)blocks;
        for (var i = 0; i < n / BlockQ8_0.Elements; i++, x += BlockQ8_0.Elements)
        {
            var amax = 0f;
            for (var j = 0; j < 32; j++)
            {
                var a = MathF.Abs(x[j]);
                amax = amax > a ? amax : a; // C's MAX: a NaN never wins
            }

            var d = amax / 127;
            var id = d != 0 ? 1f / d : 0f;
            y[i].D = Fp16.FromFloat(d);
            for (var j = 0; j < 32; j++)
            {
                y[i].Qs[j] = CFloat.ToInt8(CFloat.RoundF(x[j] * id));
            }
        }
    }

    /// <summary>Blocks → floats (dequantize_row_q8_0).</summary>
    public static void Dequantize(void* blocks, float* y, int n)
    {
        var x = (BlockQ8_0*)blocks;
        for (var i = 0; i < n / BlockQ8_0.Elements; i++)
        {
            var d = Fp16.ToFloat(x[i].D);
            for (var j = 0; j < 32; j++)
            {
                *y++ = x[i].Qs[j] * d;
            }
        }
    }

    /// <summary>
    /// Σ w·a over <paramref name="n"/> values with activations in the <see cref="Q8Activations"/> layout:
    /// per block an exact integer sum times both scales.
    /// </summary>
    public static float DotScalar(void* weights, void* activations, int n)
    {
        var w = (BlockQ8_0*)weights;
        var q = (sbyte*)activations;
        var d = Q8Activations.Scales(activations, n);
        var sum = 0f;
        for (var i = 0; i < n / BlockQ8_0.Elements; i++, q += 32)
        {
            var isum = 0;
            for (var j = 0; j < 32; j++)
            {
                isum += w[i].Qs[j] * q[j];
            }

            sum += isum * (Fp16.ToFloat(w[i].D) * d[i]);
        }

        return sum;
    }

    /// <summary>
    /// Σ w·a in the order of llama.cpp's x86 builds (ggml_vec_dot_q8_0_q8_0 and tinyBLAS_Q0_AVX): as
    /// <see cref="Q4_0.DotLanesScalar"/>, eight float lanes of four products each, summed as hsum_float_8 (<see cref="Q8Activations.DotLanes"/>).
    /// The twin of <see cref="DotAvxVnni"/> and <see cref="Dot4AvxVnni"/>.
    /// </summary>
    public static float DotLanesScalar(void* weights, void* activations, int n) =>
        Q8Activations.DotLanes(weights, BlockQ8_0.Size, &Value, activations, n);

    /// <summary>Quant k (0..31) of a block.</summary>
    private static int Value(byte* block, int k) => (sbyte)block[2 + k];
}
