using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace First.Cpu.Kernels;

/// <summary>
/// The ggml build whose floating-point order the order-sensitive kernels follow, so that logits equal those of the
/// llama.cpp a user would run on the same CPU. The quantized products sum in the same order in every x86 build
/// (ggml-cpu/arch/x86/quants.c and repack.cpp have one float order for AVX2 and AVX-512); what differs is the width
/// of ggml's generic vector code (ggml-cpu/simd-mappings.h, vec.h, vec.cpp): ggml_vec_dot_f16's step and reduction,
/// ggml_v_expf's formula, the chunks of ggml_vec_soft_max_f32 and ggml_vec_swiglu_f32, and which head sizes flash
/// attention tiles.
/// </summary>
public enum GgmlOrder
{
    /// <summary>
    /// llama.cpp built for an AVX-512 CPU: sixteen-lane vectors (GGML_F32_EPR 16, steps of 64), GCC's
    /// _mm512_reduce_add_ps, and the AVX-512 ggml_v_expf (vscalefps).
    /// </summary>
    Avx512,

    /// <summary>
    /// llama.cpp built for an AVX2 CPU (AVX2, FMA, F16C; no AVX-512): eight-lane vectors (GGML_F32_EPR 8, steps of 32),
    /// GGML_F32x8_REDUCE's hadd tree, and the AVX2 ggml_v_expf (2^n built from the exponent bits).
    /// </summary>
    Avx2,
}

/// <summary>The order this process follows, chosen once.</summary>
public static class GgmlOrders
{
    /// <summary>
    /// AVX-512 where this process runs AVX-512 F, BW and DQ (ggml's AVX-512 build needs DQ for its exp) and FIRST_KERNELS
    /// does not cap the path below it; AVX2 on every other x86 process, including those with AVX2 switched off, which
    /// then follow the AVX2 build's order in scalar code. On arm64 the AVX-512 order is kept: ggml's NEON order is not
    /// followed yet.
    /// </summary>
    public static GgmlOrder Current { get; } = Choose();

    /// <summary>The name <c>first kernels</c> prints.</summary>
    public static string Describe(GgmlOrder order) => order switch
    {
        GgmlOrder.Avx512 => "avx512 (llama.cpp built for AVX-512)",
        GgmlOrder.Avx2 => "avx2 (llama.cpp built for AVX2 + FMA + F16C)",
        _ => order.ToString(),
    };

    private static GgmlOrder Choose()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return GgmlOrder.Avx512;
        }

        KernelPath? forced;
        try
        {
            forced = KernelRegistry.Forced;
        }
        catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException)
        {
            forced = null; // reported where the kernels are chosen
        }

        return KernelRegistry.IsSupported(KernelPath.Avx512) && Avx512DQ.IsSupported && KernelRegistry.Allowed(KernelPath.Avx512, forced)
            ? GgmlOrder.Avx512
            : GgmlOrder.Avx2;
    }
}
