using First.Gguf;

namespace First.Cpu.Quants;

/// <summary>
/// How activations are quantized for a dot product with some weight format: ggml's values
/// (<see cref="Values"/>: Q8_0, Q8_1, Q8_K, F16, BF16 or F32, its vec_dot_type) in a layout of ours or ggml's.
/// Activations live only in memory, so their layout serves the kernels.
/// </summary>
public sealed unsafe class ActivationFormat
{
    private readonly Func<int, int> _bytes;

    private ActivationFormat(string name, GgmlType values, int blockSize, Func<int, int> bytes,
        delegate*<float*, void*, int, void> quantize, delegate*<void*, float*, int, void> dequantize)
    {
        Name = name;
        Values = values;
        BlockSize = blockSize;
        _bytes = bytes;
        Quantize = quantize;
        Dequantize = dequantize;
    }

    /// <summary>Q8_0 values in the <see cref="Q8Activations"/> layout: for Q4_0, Q5_0 and Q8_0 weights.</summary>
    public static ActivationFormat Q8 { get; } = new("q8", GgmlType.Q8_0, 32, Q8Activations.Bytes, &Q8Activations.Quantize, &Q8Activations.Dequantize);

    /// <summary>ggml's block_q8_1: for Q4_1 and Q5_1 weights.</summary>
    public static ActivationFormat Q8_1 { get; } = new("q8_1", GgmlType.Q8_1, 32, n => n / 32 * BlockQ8_1.Size, &Quants.Q8_1.Quantize, &Quants.Q8_1.Dequantize);

    /// <summary>ggml's block_q8_K: for the K-quants.</summary>
    public static ActivationFormat Q8_K { get; } = new("q8_K", GgmlType.Q8_K, 256, n => n / 256 * BlockQ8_K.Size, &Quants.Q8_K.Quantize, &Quants.Q8_K.Dequantize);

    /// <summary>Halves: for F16 weights (ggml rounds activations to half too).</summary>
    public static ActivationFormat F16 { get; } = new("f16", GgmlType.F16, 1, n => 2 * n, &Quants.F16.Quantize, &Quants.F16.Dequantize);

    /// <summary>bfloat16: for BF16 weights.</summary>
    public static ActivationFormat BF16 { get; } = new("bf16", GgmlType.BF16, 1, n => 2 * n, &Quants.BF16.Quantize, &Quants.BF16.Dequantize);

    /// <summary>Floats: for F32 weights.</summary>
    public static ActivationFormat F32 { get; } = new("f32", GgmlType.F32, 1, n => 4 * n, &Quants.F32.Quantize, &Quants.F32.Dequantize);

    /// <summary>Every activation format.</summary>
    public static IReadOnlyList<ActivationFormat> All { get; } = [Q8, Q8_1, Q8_K, F16, BF16, F32];

    /// <summary>A short name: q8, q8_1, q8_K, f16, bf16, f32.</summary>
    public string Name { get; }

    /// <summary>The ggml type whose values these are.</summary>
    public GgmlType Values { get; }

    /// <summary>Values per block; rows are whole blocks.</summary>
    public int BlockSize { get; }

    /// <summary>Reference quantizer: n floats → a row in this layout.</summary>
    public delegate*<float*, void*, int, void> Quantize { get; }

    /// <summary>A row in this layout → n floats.</summary>
    public delegate*<void*, float*, int, void> Dequantize { get; }

    /// <summary>Bytes a row of <paramref name="n"/> values takes.</summary>
    public int Bytes(int n) => _bytes(n);

    /// <inheritdoc/>
    public override string ToString() => Name;
}
