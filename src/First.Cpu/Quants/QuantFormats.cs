using First.Gguf;

namespace First.Cpu.Quants;

/// <summary>
/// One tensor format as the engine uses it (the role of ggml's type_traits): block geometry, the
/// activation format its dot product pairs with, and the scalar reference functions. The fast
/// kernels are chosen separately, per ISA, by the kernel registry.
/// </summary>
public sealed unsafe class QuantFormat
{
    internal QuantFormat(GgmlType type, ActivationFormat activation,
        delegate*<float*, void*, int, void> quantize,
        delegate*<void*, float*, int, void> dequantize,
        delegate*<void*, void*, int, float> dotScalar)
    {
        Type = type;
        Info = GgmlTypes.Get(type);
        Activation = activation;
        Quantize = quantize;
        Dequantize = dequantize;
        DotScalar = dotScalar;
    }

    /// <summary>The ggml type.</summary>
    public GgmlType Type { get; }

    /// <summary>Block size and bytes per block.</summary>
    public GgmlTypeInfo Info { get; }

    /// <summary>How activations are quantized before a dot product with these weights.</summary>
    public ActivationFormat Activation { get; }

    /// <summary>ggml's vec_dot_type: the type whose values the activations take.</summary>
    public GgmlType VecDotType => Activation.Values;

    /// <summary>Reference quantizer: n floats → n / block size blocks (bit-exact with ggml's quantize_row_*_ref).</summary>
    public delegate*<float*, void*, int, void> Quantize { get; }

    /// <summary>Dequantizer: blocks → n floats (bit-exact with ggml's dequantize_row_*).</summary>
    public delegate*<void*, float*, int, void> Dequantize { get; }

    /// <summary>Scalar reference dot product of n weights with n activations in <see cref="Activation"/>; null for activation-only formats.</summary>
    public delegate*<void*, void*, int, float> DotScalar { get; }

    /// <summary>Whether weights may have this format (it has a dot product); Q8_1 and Q8_K are activation-only.</summary>
    public bool IsWeightFormat => DotScalar != null;

    /// <summary>Bytes a row of <paramref name="n"/> values takes.</summary>
    public int RowBytes(int n) => checked((int)Info.RowBytes(n));
}

/// <summary>The formats the engine computes with, by ggml type.</summary>
public static unsafe class QuantFormats
{
    private static readonly Dictionary<GgmlType, QuantFormat> s_formats = new QuantFormat[]
    {
        new(GgmlType.F32, ActivationFormat.F32, &F32.Quantize, &F32.Dequantize, &F32.DotScalar),
        new(GgmlType.F16, ActivationFormat.F16, &F16.Quantize, &F16.Dequantize, &F16.DotScalar),
        new(GgmlType.BF16, ActivationFormat.BF16, &BF16.Quantize, &BF16.Dequantize, &BF16.DotScalar),
        new(GgmlType.Q4_0, ActivationFormat.Q8, &Q4_0.Quantize, &Q4_0.Dequantize, &Q4_0.DotScalar),
        new(GgmlType.Q4_1, ActivationFormat.Q8_1, &Q4_1.Quantize, &Q4_1.Dequantize, &Q4_1.DotScalar),
        new(GgmlType.Q5_0, ActivationFormat.Q8, &Q5_0.Quantize, &Q5_0.Dequantize, &Q5_0.DotScalar),
        new(GgmlType.Q5_1, ActivationFormat.Q8_1, &Q5_1.Quantize, &Q5_1.Dequantize, &Q5_1.DotScalar),
        new(GgmlType.Q8_0, ActivationFormat.Q8, &Q8_0.Quantize, &Q8_0.Dequantize, &Q8_0.DotScalar),
        new(GgmlType.Q8_1, ActivationFormat.Q8_1, &Q8_1.Quantize, &Q8_1.Dequantize, null),
        new(GgmlType.Q4_K, ActivationFormat.Q8_K, &Q4_K.Quantize, &Q4_K.Dequantize, &Q4_K.DotScalar),
        new(GgmlType.Q5_K, ActivationFormat.Q8_K, &Q5_K.Quantize, &Q5_K.Dequantize, &Q5_K.DotScalar),
        new(GgmlType.Q6_K, ActivationFormat.Q8_K, &Q6_K.Quantize, &Q6_K.Dequantize, &Q6_K.DotScalar),
        new(GgmlType.Q8_K, ActivationFormat.Q8_K, &Q8_K.Quantize, &Q8_K.Dequantize, null),
    }.ToDictionary(f => f.Type);

    /// <summary>Every format, weights and activation-only ones.</summary>
    public static IEnumerable<QuantFormat> All => s_formats.Values;

    /// <summary>The format of a type, or null when the engine cannot compute with it.</summary>
    public static QuantFormat? Find(GgmlType type) => s_formats.GetValueOrDefault(type);

    /// <summary>The format of a type; an unsupported one throws <see cref="NotSupportedException"/> naming it.</summary>
    public static QuantFormat Get(GgmlType type) =>
        Find(type) ?? throw new NotSupportedException($"tensor type {GgmlTypes.NameOf((uint)type)} is not supported by this engine");
}
