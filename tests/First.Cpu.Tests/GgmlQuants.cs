using First.Gguf;
using First.Tests;

namespace First.Cpu.Tests;

/// <summary>
/// ggml's own quantizers and dequantizers from llama.cpp's libggml-base.so
/// (void quantize_row_X_ref(const float *, block_X *, int64_t); void dequantize_row_X(const block_X *, float *, int64_t)).
/// </summary>
internal static unsafe class GgmlQuants
{
    /// <summary>ggml's quantize function for a type, or null where ggml has no reference quantizer.</summary>
    public static delegate* unmanaged<float*, void*, long, void> Quantize(GgmlType type) => type switch
    {
        GgmlType.F16 => (delegate* unmanaged<float*, void*, long, void>)ReferenceLibrary.Export<byte>("ggml_fp32_to_fp16_row"),
        GgmlType.BF16 => (delegate* unmanaged<float*, void*, long, void>)ReferenceLibrary.Export<byte>("ggml_fp32_to_bf16_row_ref"),
        GgmlType.F32 => null,
        _ => (delegate* unmanaged<float*, void*, long, void>)ReferenceLibrary.Export<byte>($"quantize_row_{GgmlTypes.Get(type).Name}_ref"),
    };

    /// <summary>ggml's dequantize function for a type, or null where ggml exports none (Q8_1).</summary>
    public static delegate* unmanaged<void*, float*, long, void> Dequantize(GgmlType type) => type switch
    {
        GgmlType.F16 => (delegate* unmanaged<void*, float*, long, void>)ReferenceLibrary.Export<byte>("ggml_fp16_to_fp32_row"),
        GgmlType.BF16 => (delegate* unmanaged<void*, float*, long, void>)ReferenceLibrary.Export<byte>("ggml_bf16_to_fp32_row"),
        GgmlType.F32 or GgmlType.Q8_1 => null,
        _ => (delegate* unmanaged<void*, float*, long, void>)ReferenceLibrary.Export<byte>($"dequantize_row_{GgmlTypes.Get(type).Name}"),
    };
}
