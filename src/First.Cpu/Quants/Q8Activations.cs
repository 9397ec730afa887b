using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>
/// The layout in which activations are quantized for the Q4_0, Q5_0 and Q8_0 dot products. The values
/// are the Q8_0 values llama.cpp's x86 builds quantize activations to (<see cref="Q8_0.QuantizeRuntime"/>:
/// quants q and the half-rounded scale d; quantize_row_q8_0_ref differs in the last bit of the multiplier and in
/// how halves round), laid out for
/// the kernels rather than for a file, since activations are never stored:
/// <code>
/// sbyte q[n]        all quants, block after block (32-byte aligned loads)
/// float d[n / 32]   each block's scale: the half ggml stores, as a float
/// int   m[n / 32]   −Σq of each block, where the interleaved kernels start their integer sums
/// </code>
/// </summary>
public static unsafe class Q8Activations
{
    /// <summary>Values per block.</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes <paramref name="n"/> values take.</summary>
    public static int Bytes(int n) => n + (8 * (n / BlockSize));

    /// <summary>The scales of a row of <paramref name="n"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Scales(void* row, int n) => (float*)((byte*)row + n);

    /// <summary>The negated block sums −Σq of a row of <paramref name="n"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int* NegatedSums(void* row, int n) => (int*)((byte*)row + n) + (n / BlockSize);

    /// <summary>Scalar quantizer: llama.cpp's run-time Q8_0 quants and scale per block (see <see cref="Q8_0.QuantizeRuntime"/>).</summary>
    public static void Quantize(float* x, void* row, int n) => QuantizeWith(&Q8_0.QuantizeRuntime, x, row, n);

    /// <summary>The same bytes as <see cref="Quantize"/>, with 128-bit vectors (for finite inputs).</summary>
    public static void QuantizeVector(float* x, void* row, int n) => QuantizeWith(&Q8_0.QuantizeRuntimeVector, x, row, n);

    /// <summary>Quants and scale back to floats, x = d·q.</summary>
    public static void Dequantize(void* row, float* y, int n)
    {
        var q = (sbyte*)row;
        var d = Scales(row, n);
        for (var i = 0; i < n; i++)
        {
            y[i] = q[i] * d[i / BlockSize];
        }
    }

    /// <summary>Quantizes block by block into ggml's Q8_0 block with <paramref name="blockQuantizer"/>, then lays each out.</summary>
    private static void QuantizeWith(delegate*<float*, void*, int, void> blockQuantizer, float* x, void* row, int n)
    {
        var q = (sbyte*)row;
        var d = Scales(row, n);
        var m = NegatedSums(row, n);
        BlockQ8_0 block;
        for (var i = 0; i < n / BlockSize; i++)
        {
            blockQuantizer(x + (i * BlockSize), &block, BlockSize);
            Store(&block, q + (i * BlockSize), d + i, m + i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(BlockQ8_0* block, sbyte* q, float* d, int* m)
    {
        Unsafe.CopyBlockUnaligned(q, block->Qs, BlockSize);
        var v = Vector256.Load(q);
        var sum = Vector256.Sum(Vector256.WidenLower(v)) + Vector256.Sum(Vector256.WidenUpper(v));
        *d = Fp16.ToFloat(block->D);
        *m = -sum;
    }

    /// <summary>
    /// Σ w·a of a row of blocks (<paramref name="blockBytes"/> each, a half scale first) in the eight-lane order of
    /// llama.cpp's x86 kernels: lane j takes fma(d_w·d_a, Σ of the block's values 4j..4j+3 times the activations,
    /// lane j) block after block; the lanes are then summed as hsum_float_8 does. <paramref name="value"/> gives a
    /// block's value k as an integer. The scalar twin of the lane-ordered kernels (Q8DotX86.LaneDot).
    /// </summary>
    internal static float DotLanes(void* weights, int blockBytes, delegate*<byte*, int, int> value, void* activations, int n)
    {
        var w = (byte*)weights;
        var q = (sbyte*)activations;
        var d = Scales(activations, n);
        Span<float> lanes = stackalloc float[8];
        for (var i = 0; i < n / BlockSize; i++, q += BlockSize, w += blockBytes)
        {
            var scale = Fp16.ToFloat(*(ushort*)w) * d[i];
            for (var j = 0; j < 8; j++)
            {
                var isum = 0;
                for (var k = 4 * j; k < (4 * j) + 4; k++)
                {
                    isum += value(w, k) * q[k];
                }

                lanes[j] = MathF.FusedMultiplyAdd(scale, isum, lanes[j]);
            }
        }

        // hsum_float_8 (ggml-cpu/arch/x86/quants.c): ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
        return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
    }
}
