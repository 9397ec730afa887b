using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using First.Cpu.Quants;
using First.Gguf;

namespace First.Cpu.Kernels;

/// <summary>An instruction-set path, from the portable scalar one up. The x86 and ARM paths are separate ladders.</summary>
public enum KernelPath
{
    /// <summary>Plain C#: the reference every other path is tested against.</summary>
    Scalar,

    /// <summary>Portable System.Runtime.Intrinsics vectors (Vector128/256), on any hardware that accelerates them.</summary>
    Vector,

    /// <summary>x86 AVX2 with FMA.</summary>
    Avx2,

    /// <summary>x86 AVX2 with AVX-VNNI (vpdpbusd, 256-bit).</summary>
    AvxVnni,

    /// <summary>x86 AVX-512 F and BW.</summary>
    Avx512,

    /// <summary>arm64 NEON (AdvSimd).</summary>
    Neon,

    /// <summary>arm64 NEON with the dot-product extension (sdot).</summary>
    DotProd,
}

/// <summary>A dot-product kernel: n weights of one format · n activations of its partner format.</summary>
public readonly unsafe struct DotKernel
{
    internal DotKernel(GgmlType type, KernelPath path, string name, delegate*<void*, void*, int, float> dot,
        delegate*<void*, void*, int, int, float*, void> dot4 = null)
    {
        Type = type;
        Path = path;
        Name = name;
        Dot = dot;
        Dot4 = dot4;
    }

    /// <summary>The weight format.</summary>
    public GgmlType Type { get; }

    /// <summary>The instruction-set path.</summary>
    public KernelPath Path { get; }

    /// <summary>A name for logs and benchmarks, e.g. <c>Q4_0.DotAvxVnni</c>.</summary>
    public string Name { get; }

    /// <summary>The function.</summary>
    public delegate*<void*, void*, int, float> Dot { get; }

    /// <summary>
    /// Optional: one weight row against four activation rows <c>stride</c> bytes apart, writing four
    /// results (the same as four <see cref="Dot"/> calls within rounding); null where the format has none.
    /// </summary>
    public delegate*<void*, void*, int, int, float*, void> Dot4 { get; }

    /// <summary>Whether this machine can run the path.</summary>
    public bool IsSupported => KernelRegistry.IsSupported(Path);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// A kernel over eight interleaved weight rows (<see cref="Interleaved8"/>): the rows' products with one
/// token, or with four, written as eight contiguous floats per token; or two groups' with four tokens.
/// </summary>
public readonly unsafe struct InterleavedKernel
{
    internal InterleavedKernel(GgmlType type, KernelPath path, string name,
        delegate*<byte*, byte*, int, float*, void> dot, delegate*<byte*, byte*, int, int, float*, int, void> dot4,
        delegate*<byte*, long, byte*, int, int, float*, int, void> dot4Pair,
        delegate*<byte*, long, byte*, int, int, float*, int, void> dot8Pair = null, KernelPath? alsoNeeds = null)
    {
        Type = type;
        Path = path;
        Name = name;
        Dot = dot;
        Dot4 = dot4;
        Dot4Pair = dot4Pair;
        Dot8Pair = dot8Pair;
        AlsoNeeds = alsoNeeds;
    }

    /// <summary>The weight format.</summary>
    public GgmlType Type { get; }

    /// <summary>The instruction-set path.</summary>
    public KernelPath Path { get; }

    /// <summary>A name for logs and benchmarks, e.g. <c>Q4_0.DotInterleavedAvxVnni</c>.</summary>
    public string Name { get; }

    /// <summary>Bytes of one block of the format (a row's; a group's block is eight of them).</summary>
    public int BlockBytes => GgmlTypes.Get(Type).BytesPerBlock;

    /// <summary><c>Dot(group, activations, n, y)</c>: y[0..7] = the eight rows · one token.</summary>
    public delegate*<byte*, byte*, int, float*, void> Dot { get; }

    /// <summary><c>Dot4(group, activations, stride, n, y, yStride)</c>: four tokens <c>stride</c> bytes apart, outputs <c>yStride</c> floats apart.</summary>
    public delegate*<byte*, byte*, int, int, float*, int, void> Dot4 { get; }

    /// <summary>
    /// <c>Dot4Pair(group, groupBytes, activations, stride, n, y, yStride)</c>: as <see cref="Dot4"/> for two groups
    /// <c>groupBytes</c> apart, sixteen outputs per token (the first group's rows, then the second's).
    /// </summary>
    public delegate*<byte*, long, byte*, int, int, float*, int, void> Dot4Pair { get; }

    /// <summary>
    /// Optional: as <see cref="Dot4Pair"/> for eight tokens <c>stride</c> bytes apart (the same floats as the
    /// four-token kernels give them); null where the path has none.
    /// </summary>
    public delegate*<byte*, long, byte*, int, int, float*, int, void> Dot8Pair { get; }

    /// <summary>
    /// A second path the kernel needs, or null: the AVX-512 kernels multiply one token (decoding) with
    /// AVX-VNNI's kernels and many with their own.
    /// </summary>
    public KernelPath? AlsoNeeds { get; }

    /// <summary>
    /// Whether <see cref="Dot4Pair"/> beats two <see cref="Dot4"/> calls here. It holds sixteen operands and eight
    /// accumulators: with AVX-512's 32 vector registers it is faster (TinyLlama Q4_0 pp128 on Zen 4: 245 against
    /// 232 t/s); with 16 (no AVX-512, as in the x86-64-v3 NativeAOT build) it spills and is slower (190 against 235).
    /// </summary>
    public bool PairsPay => Dot4Pair != null && (Path is not (KernelPath.AvxVnni or KernelPath.Avx2) || Avx512F.IsSupported);

    /// <summary>Whether this machine can run the path (and <see cref="AlsoNeeds"/>).</summary>
    public bool IsSupported => KernelRegistry.IsSupported(Path) && (AlsoNeeds is not { } also || KernelRegistry.IsSupported(also));

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A quantizer of activations into an <see cref="ActivationFormat"/>.</summary>
public readonly unsafe struct QuantizeKernel
{
    internal QuantizeKernel(ActivationFormat format, KernelPath path, string name, delegate*<float*, void*, int, void> quantize)
    {
        Format = format;
        Path = path;
        Name = name;
        Quantize = quantize;
    }

    /// <summary>The layout written.</summary>
    public ActivationFormat Format { get; }

    /// <summary>The instruction-set path.</summary>
    public KernelPath Path { get; }

    /// <summary>A name for logs and benchmarks.</summary>
    public string Name { get; }

    /// <summary>The function: n floats → one row of the layout.</summary>
    public delegate*<float*, void*, int, void> Quantize { get; }

    /// <summary>Whether this machine can run the path.</summary>
    public bool IsSupported => KernelRegistry.IsSupported(Path);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// Every kernel, ordered best first per format, and the choice among them. Kernels are chosen once
/// (at model load) and called through function pointers; nothing in a hot loop asks IsSupported.
/// <c>FIRST_KERNELS=scalar|vector|avx2|avxvnni|avx512|neon|dotprod</c> caps the path: the best kernel at
/// or below it is taken. Naming a path this CPU cannot run is an error, never an illegal instruction.
/// </summary>
public static unsafe class KernelRegistry
{
    /// <summary>The environment variable that forces a path.</summary>
    public const string Variable = "FIRST_KERNELS";

    // Best first. Row-by-row AVX-512BW variants of Q4_0/Q8_0 were measured slower than AVX-VNNI and AVX2 on Zen 4
    // (no 512-bit VNNI in .NET 10, and 512-bit operations run as two 256-bit halves), so they are gone; AVX-512
    // serves the interleaved prefill of Q4_0 and the K-quants (s_interleaved).
    private static readonly DotKernel[] s_dots =
    [
        new(GgmlType.Q8_0, KernelPath.AvxVnni, "Q8_0.DotAvxVnni", &Q8_0.DotAvxVnni, &Q8_0.Dot4AvxVnni),
        new(GgmlType.Q8_0, KernelPath.Avx2, "Q8_0.DotAvx2", &Q8_0.DotAvx2, &Q8_0.Dot4Avx2),
        new(GgmlType.Q8_0, KernelPath.DotProd, "Q8_0.DotAdvSimdDp", &Q8_0.DotAdvSimdDp, &Q8_0.Dot4AdvSimdDp),
        new(GgmlType.Q8_0, KernelPath.Neon, "Q8_0.DotAdvSimd", &Q8_0.DotAdvSimd, &Q8_0.Dot4AdvSimd),
        new(GgmlType.Q8_0, KernelPath.Scalar, "Q8_0.DotScalar", &Q8_0.DotScalar),

        new(GgmlType.Q4_0, KernelPath.AvxVnni, "Q4_0.DotAvxVnni", &Q4_0.DotAvxVnni, &Q4_0.Dot4AvxVnni),
        new(GgmlType.Q4_0, KernelPath.Avx2, "Q4_0.DotAvx2", &Q4_0.DotAvx2, &Q4_0.Dot4Avx2),
        new(GgmlType.Q4_0, KernelPath.DotProd, "Q4_0.DotAdvSimdDp", &Q4_0.DotAdvSimdDp, &Q4_0.Dot4AdvSimdDp),
        new(GgmlType.Q4_0, KernelPath.Neon, "Q4_0.DotAdvSimd", &Q4_0.DotAdvSimd, &Q4_0.Dot4AdvSimd),
        new(GgmlType.Q4_0, KernelPath.Scalar, "Q4_0.DotScalar", &Q4_0.DotScalar),

        new(GgmlType.F32, KernelPath.Vector, "F32.DotVector", &F32.DotVector),
        new(GgmlType.F32, KernelPath.Scalar, "F32.DotScalar", &F32.DotScalar),

        new(GgmlType.F16, KernelPath.Vector, "F16.DotVector", &F16.DotVector),
        new(GgmlType.F16, KernelPath.Scalar, "F16.DotScalar", &F16.DotScalar),

        new(GgmlType.BF16, KernelPath.Vector, "BF16.DotVector", &BF16.DotVector),
        new(GgmlType.BF16, KernelPath.Scalar, "BF16.DotScalar", &BF16.DotScalar),

        new(GgmlType.Q4_1, KernelPath.AvxVnni, "Q4_1.DotAvxVnni", &Q4_1.DotAvxVnni, &Q4_1.Dot4AvxVnni),
        new(GgmlType.Q4_1, KernelPath.Avx2, "Q4_1.DotAvx2", &Q4_1.DotAvx2, &Q4_1.Dot4Avx2),
        new(GgmlType.Q4_1, KernelPath.DotProd, "Q4_1.DotAdvSimdDp", &Q4_1.DotAdvSimdDp, &Q4_1.Dot4AdvSimdDp),
        new(GgmlType.Q4_1, KernelPath.Neon, "Q4_1.DotAdvSimd", &Q4_1.DotAdvSimd, &Q4_1.Dot4AdvSimd),
        new(GgmlType.Q4_1, KernelPath.Scalar, "Q4_1.DotScalar", &Q4_1.DotScalar),
        new(GgmlType.Q5_0, KernelPath.AvxVnni, "Q5_0.DotAvxVnni", &Q5_0.DotAvxVnni, &Q5_0.Dot4AvxVnni),
        new(GgmlType.Q5_0, KernelPath.Avx2, "Q5_0.DotAvx2", &Q5_0.DotAvx2, &Q5_0.Dot4Avx2),
        new(GgmlType.Q5_0, KernelPath.DotProd, "Q5_0.DotAdvSimdDp", &Q5_0.DotAdvSimdDp, &Q5_0.Dot4AdvSimdDp),
        new(GgmlType.Q5_0, KernelPath.Neon, "Q5_0.DotAdvSimd", &Q5_0.DotAdvSimd, &Q5_0.Dot4AdvSimd),
        new(GgmlType.Q5_0, KernelPath.Scalar, "Q5_0.DotScalar", &Q5_0.DotScalar),
        new(GgmlType.Q5_1, KernelPath.AvxVnni, "Q5_1.DotAvxVnni", &Q5_1.DotAvxVnni, &Q5_1.Dot4AvxVnni),
        new(GgmlType.Q5_1, KernelPath.Avx2, "Q5_1.DotAvx2", &Q5_1.DotAvx2, &Q5_1.Dot4Avx2),
        new(GgmlType.Q5_1, KernelPath.DotProd, "Q5_1.DotAdvSimdDp", &Q5_1.DotAdvSimdDp, &Q5_1.Dot4AdvSimdDp),
        new(GgmlType.Q5_1, KernelPath.Neon, "Q5_1.DotAdvSimd", &Q5_1.DotAdvSimd, &Q5_1.Dot4AdvSimd),
        new(GgmlType.Q5_1, KernelPath.Scalar, "Q5_1.DotScalar", &Q5_1.DotScalar),
        new(GgmlType.Q4_K, KernelPath.AvxVnni, "Q4_K.DotAvxVnni", &Q4_K.DotAvxVnni, &Q4_K.Dot4AvxVnni),
        new(GgmlType.Q4_K, KernelPath.Avx2, "Q4_K.DotAvx2", &Q4_K.DotAvx2, &Q4_K.Dot4Avx2),
        new(GgmlType.Q4_K, KernelPath.DotProd, "Q4_K.DotAdvSimdDp", &Q4_K.DotAdvSimdDp, &Q4_K.Dot4AdvSimdDp),
        new(GgmlType.Q4_K, KernelPath.Neon, "Q4_K.DotAdvSimd", &Q4_K.DotAdvSimd, &Q4_K.Dot4AdvSimd),
        new(GgmlType.Q4_K, KernelPath.Scalar, "Q4_K.DotScalar", &Q4_K.DotScalar),
        new(GgmlType.Q5_K, KernelPath.AvxVnni, "Q5_K.DotAvxVnni", &Q5_K.DotAvxVnni, &Q5_K.Dot4AvxVnni),
        new(GgmlType.Q5_K, KernelPath.Avx2, "Q5_K.DotAvx2", &Q5_K.DotAvx2, &Q5_K.Dot4Avx2),
        new(GgmlType.Q5_K, KernelPath.DotProd, "Q5_K.DotAdvSimdDp", &Q5_K.DotAdvSimdDp, &Q5_K.Dot4AdvSimdDp),
        new(GgmlType.Q5_K, KernelPath.Neon, "Q5_K.DotAdvSimd", &Q5_K.DotAdvSimd, &Q5_K.Dot4AdvSimd),
        new(GgmlType.Q5_K, KernelPath.Scalar, "Q5_K.DotScalar", &Q5_K.DotScalar),
        new(GgmlType.Q6_K, KernelPath.AvxVnni, "Q6_K.DotAvxVnni", &Q6_K.DotAvxVnni, &Q6_K.Dot4AvxVnni),
        new(GgmlType.Q6_K, KernelPath.Avx2, "Q6_K.DotAvx2", &Q6_K.DotAvx2, &Q6_K.Dot4Avx2),
        new(GgmlType.Q6_K, KernelPath.DotProd, "Q6_K.DotAdvSimdDp", &Q6_K.DotAdvSimdDp, &Q6_K.Dot4AdvSimdDp),
        new(GgmlType.Q6_K, KernelPath.Neon, "Q6_K.DotAdvSimd", &Q6_K.DotAdvSimd, &Q6_K.Dot4AdvSimd),
        new(GgmlType.Q6_K, KernelPath.Scalar, "Q6_K.DotScalar", &Q6_K.DotScalar),
    ];

    // Best first. A format without an entry for the chosen path multiplies row by row (DotKernel). The AVX-512
    // entries multiply many tokens with 512-bit vpmaddubsw/vpmaddwd (AVX-512BW, no VNNI) and one token with the
    // row path's kernels: AVX-VNNI's where the CPU has it (Zen 5, Alder Lake and later), AVX2's where it has
    // AVX-512 without AVX-VNNI (Zen 4, Ice Lake, Cascade Lake). They are taken where 512-bit integer work pays
    // against that row path (WideIntegerPays).
    private static readonly InterleavedKernel[] s_interleaved =
    [
        new(GgmlType.Q4_0, KernelPath.Avx512, "Q4_0.DotInterleavedAvx512AvxVnni", &Q4_0.DotInterleavedAvxVnni, &Q4_0.Dot4InterleavedAvxVnni,
            &Q4_0.Dot4PairInterleavedAvxVnni, &Q4_0.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q5_0, KernelPath.Avx512, "Q5_0.DotInterleavedAvx512AvxVnni", &Q5_0.DotInterleavedAvxVnni, &Q5_0.Dot4InterleavedAvxVnni,
            &Q5_0.Dot4PairInterleavedAvxVnni, &Q5_0.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q4_1, KernelPath.Avx512, "Q4_1.DotInterleavedAvx512AvxVnni", &Q4_1.DotInterleavedAvxVnni, &Q4_1.Dot4InterleavedAvxVnni,
            null, &Q4_1.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q5_1, KernelPath.Avx512, "Q5_1.DotInterleavedAvx512AvxVnni", &Q5_1.DotInterleavedAvxVnni, &Q5_1.Dot4InterleavedAvxVnni,
            null, &Q5_1.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q4_K, KernelPath.Avx512, "Q4_K.DotInterleavedAvx512AvxVnni", &Q4_K.DotInterleavedAvxVnni, &Q4_K.Dot4InterleavedAvxVnni,
            null, &Q4_K.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q5_K, KernelPath.Avx512, "Q5_K.DotInterleavedAvx512AvxVnni", &Q5_K.DotInterleavedAvxVnni, &Q5_K.Dot4InterleavedAvxVnni,
            null, &Q5_K.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q6_K, KernelPath.Avx512, "Q6_K.DotInterleavedAvx512AvxVnni", &Q6_K.DotInterleavedAvxVnni, &Q6_K.Dot4InterleavedAvxVnni,
            null, &Q6_K.Dot8PairInterleavedAvx512, KernelPath.AvxVnni),
        new(GgmlType.Q4_0, KernelPath.Avx512, "Q4_0.DotInterleavedAvx512Avx2", &Q4_0.DotInterleavedAvx2, &Q4_0.Dot4InterleavedAvx2,
            &Q4_0.Dot4PairInterleavedAvx2, &Q4_0.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q8_0, KernelPath.Avx512, "Q8_0.DotInterleavedAvx512Avx2", &Q8_0.DotInterleavedAvx2, &Q8_0.Dot4InterleavedAvx2,
            &Q8_0.Dot4PairInterleavedAvx2, &Q8_0.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q5_0, KernelPath.Avx512, "Q5_0.DotInterleavedAvx512Avx2", &Q5_0.DotInterleavedAvx2, &Q5_0.Dot4InterleavedAvx2,
            &Q5_0.Dot4PairInterleavedAvx2, &Q5_0.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q4_1, KernelPath.Avx512, "Q4_1.DotInterleavedAvx512Avx2", &Q4_1.DotInterleavedAvx2, &Q4_1.Dot4InterleavedAvx2,
            null, &Q4_1.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q5_1, KernelPath.Avx512, "Q5_1.DotInterleavedAvx512Avx2", &Q5_1.DotInterleavedAvx2, &Q5_1.Dot4InterleavedAvx2,
            null, &Q5_1.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q4_K, KernelPath.Avx512, "Q4_K.DotInterleavedAvx512Avx2", &Q4_K.DotInterleavedAvx2, &Q4_K.Dot4InterleavedAvx2,
            null, &Q4_K.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q5_K, KernelPath.Avx512, "Q5_K.DotInterleavedAvx512Avx2", &Q5_K.DotInterleavedAvx2, &Q5_K.Dot4InterleavedAvx2,
            null, &Q5_K.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q6_K, KernelPath.Avx512, "Q6_K.DotInterleavedAvx512Avx2", &Q6_K.DotInterleavedAvx2, &Q6_K.Dot4InterleavedAvx2,
            null, &Q6_K.Dot8PairInterleavedAvx512, KernelPath.Avx2),
        new(GgmlType.Q4_0, KernelPath.AvxVnni, "Q4_0.DotInterleavedAvxVnni", &Q4_0.DotInterleavedAvxVnni, &Q4_0.Dot4InterleavedAvxVnni, &Q4_0.Dot4PairInterleavedAvxVnni),
        new(GgmlType.Q4_0, KernelPath.Avx2, "Q4_0.DotInterleavedAvx2", &Q4_0.DotInterleavedAvx2, &Q4_0.Dot4InterleavedAvx2, &Q4_0.Dot4PairInterleavedAvx2),
        new(GgmlType.Q8_0, KernelPath.AvxVnni, "Q8_0.DotInterleavedAvxVnni", &Q8_0.DotInterleavedAvxVnni, &Q8_0.Dot4InterleavedAvxVnni, &Q8_0.Dot4PairInterleavedAvxVnni),
        new(GgmlType.Q8_0, KernelPath.Avx2, "Q8_0.DotInterleavedAvx2", &Q8_0.DotInterleavedAvx2, &Q8_0.Dot4InterleavedAvx2, &Q8_0.Dot4PairInterleavedAvx2),
        new(GgmlType.Q5_0, KernelPath.AvxVnni, "Q5_0.DotInterleavedAvxVnni", &Q5_0.DotInterleavedAvxVnni, &Q5_0.Dot4InterleavedAvxVnni, &Q5_0.Dot4PairInterleavedAvxVnni),
        new(GgmlType.Q5_0, KernelPath.Avx2, "Q5_0.DotInterleavedAvx2", &Q5_0.DotInterleavedAvx2, &Q5_0.Dot4InterleavedAvx2, &Q5_0.Dot4PairInterleavedAvx2),
        new(GgmlType.Q4_1, KernelPath.AvxVnni, "Q4_1.DotInterleavedAvxVnni", &Q4_1.DotInterleavedAvxVnni, &Q4_1.Dot4InterleavedAvxVnni, null),
        new(GgmlType.Q4_1, KernelPath.Avx2, "Q4_1.DotInterleavedAvx2", &Q4_1.DotInterleavedAvx2, &Q4_1.Dot4InterleavedAvx2, null),
        new(GgmlType.Q5_1, KernelPath.AvxVnni, "Q5_1.DotInterleavedAvxVnni", &Q5_1.DotInterleavedAvxVnni, &Q5_1.Dot4InterleavedAvxVnni, null),
        new(GgmlType.Q5_1, KernelPath.Avx2, "Q5_1.DotInterleavedAvx2", &Q5_1.DotInterleavedAvx2, &Q5_1.Dot4InterleavedAvx2, null),
        new(GgmlType.Q4_K, KernelPath.AvxVnni, "Q4_K.DotInterleavedAvxVnni", &Q4_K.DotInterleavedAvxVnni, &Q4_K.Dot4InterleavedAvxVnni, null),
        new(GgmlType.Q4_K, KernelPath.Avx2, "Q4_K.DotInterleavedAvx2", &Q4_K.DotInterleavedAvx2, &Q4_K.Dot4InterleavedAvx2, null),
        new(GgmlType.Q5_K, KernelPath.AvxVnni, "Q5_K.DotInterleavedAvxVnni", &Q5_K.DotInterleavedAvxVnni, &Q5_K.Dot4InterleavedAvxVnni, null),
        new(GgmlType.Q5_K, KernelPath.Avx2, "Q5_K.DotInterleavedAvx2", &Q5_K.DotInterleavedAvx2, &Q5_K.Dot4InterleavedAvx2, null),
        new(GgmlType.Q6_K, KernelPath.AvxVnni, "Q6_K.DotInterleavedAvxVnni", &Q6_K.DotInterleavedAvxVnni, &Q6_K.Dot4InterleavedAvxVnni, null),
        new(GgmlType.Q6_K, KernelPath.Avx2, "Q6_K.DotInterleavedAvx2", &Q6_K.DotInterleavedAvx2, &Q6_K.Dot4InterleavedAvx2, null),
        new(GgmlType.Q4_0, KernelPath.DotProd, "Q4_0.DotInterleavedAdvSimdDp", &Q4_0.DotInterleavedAdvSimdDp, &Q4_0.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q8_0, KernelPath.DotProd, "Q8_0.DotInterleavedAdvSimdDp", &Q8_0.DotInterleavedAdvSimdDp, &Q8_0.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q5_0, KernelPath.DotProd, "Q5_0.DotInterleavedAdvSimdDp", &Q5_0.DotInterleavedAdvSimdDp, &Q5_0.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q4_1, KernelPath.DotProd, "Q4_1.DotInterleavedAdvSimdDp", &Q4_1.DotInterleavedAdvSimdDp, &Q4_1.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q5_1, KernelPath.DotProd, "Q5_1.DotInterleavedAdvSimdDp", &Q5_1.DotInterleavedAdvSimdDp, &Q5_1.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q4_K, KernelPath.DotProd, "Q4_K.DotInterleavedAdvSimdDp", &Q4_K.DotInterleavedAdvSimdDp, &Q4_K.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q5_K, KernelPath.DotProd, "Q5_K.DotInterleavedAdvSimdDp", &Q5_K.DotInterleavedAdvSimdDp, &Q5_K.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q6_K, KernelPath.DotProd, "Q6_K.DotInterleavedAdvSimdDp", &Q6_K.DotInterleavedAdvSimdDp, &Q6_K.Dot4InterleavedAdvSimdDp, null),
        new(GgmlType.Q4_0, KernelPath.Neon, "Q4_0.DotInterleavedAdvSimd", &Q4_0.DotInterleavedAdvSimd, &Q4_0.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q8_0, KernelPath.Neon, "Q8_0.DotInterleavedAdvSimd", &Q8_0.DotInterleavedAdvSimd, &Q8_0.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q5_0, KernelPath.Neon, "Q5_0.DotInterleavedAdvSimd", &Q5_0.DotInterleavedAdvSimd, &Q5_0.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q4_1, KernelPath.Neon, "Q4_1.DotInterleavedAdvSimd", &Q4_1.DotInterleavedAdvSimd, &Q4_1.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q5_1, KernelPath.Neon, "Q5_1.DotInterleavedAdvSimd", &Q5_1.DotInterleavedAdvSimd, &Q5_1.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q4_K, KernelPath.Neon, "Q4_K.DotInterleavedAdvSimd", &Q4_K.DotInterleavedAdvSimd, &Q4_K.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q5_K, KernelPath.Neon, "Q5_K.DotInterleavedAdvSimd", &Q5_K.DotInterleavedAdvSimd, &Q5_K.Dot4InterleavedAdvSimd, null),
        new(GgmlType.Q6_K, KernelPath.Neon, "Q6_K.DotInterleavedAdvSimd", &Q6_K.DotInterleavedAdvSimd, &Q6_K.Dot4InterleavedAdvSimd, null),
    ];

    private static readonly QuantizeKernel[] s_quantizers =
    [
        new(ActivationFormat.Q8, KernelPath.Vector, "Q8Activations.QuantizeVector", &Q8Activations.QuantizeVector),
        new(ActivationFormat.Q8, KernelPath.Scalar, "Q8Activations.Quantize", &Q8Activations.Quantize),
        new(ActivationFormat.Q8_1, KernelPath.Scalar, "Q8_1.Quantize", &Q8_1.Quantize),
        new(ActivationFormat.Q8_K, KernelPath.Vector, "Q8_K.QuantizeVector", &Q8_K.QuantizeVector),
        new(ActivationFormat.Q8_K, KernelPath.Scalar, "Q8_K.Quantize", &Q8_K.Quantize),
        new(ActivationFormat.F16, KernelPath.Scalar, "F16.Quantize", &F16.Quantize),
        new(ActivationFormat.BF16, KernelPath.Scalar, "BF16.Quantize", &BF16.Quantize),
        new(ActivationFormat.F32, KernelPath.Scalar, "F32.Quantize", &F32.Quantize),
    ];

    private static readonly Lazy<KernelPath?> s_forced = new(() => ParseForced(Environment.GetEnvironmentVariable(Variable)));

    /// <summary>Every registered dot kernel, best first within a format, runnable here or not (for tests and benchmarks).</summary>
    public static IReadOnlyList<DotKernel> AllDots => s_dots;

    /// <summary>Every registered interleaved-rows kernel, runnable here or not.</summary>
    public static IReadOnlyList<InterleavedKernel> AllInterleaved => s_interleaved;

    /// <summary>Every registered activation quantizer.</summary>
    public static IReadOnlyList<QuantizeKernel> AllQuantizers => s_quantizers;

    /// <summary>The path FIRST_KERNELS forces, or null.</summary>
    public static KernelPath? Forced => s_forced.Value;

    /// <summary>The best dot kernel for weights of <paramref name="type"/> that this machine runs (and FIRST_KERNELS allows).</summary>
    /// <exception cref="NotSupportedException">No kernel exists for the type.</exception>
    public static DotKernel ChooseDot(GgmlType type) =>
        Choose(s_dots, k => k.Type == type, k => k.Path) ?? throw new NotSupportedException($"no dot product kernel for tensor type {GgmlTypes.NameOf((uint)type)}");

    /// <summary>
    /// The interleaved kernel for <paramref name="type"/> on the path of <paramref name="rowKernel"/> (the path
    /// chosen for the format), or null where that path has none.
    /// </summary>
    public static InterleavedKernel? ChooseInterleaved(GgmlType type, DotKernel rowKernel) =>
        ChooseInterleaved(type, rowKernel.Path, Forced, () => WideIntegerPays(rowKernel.Path));

    /// <summary>
    /// The choice of <see cref="ChooseInterleaved(GgmlType, DotKernel)"/> under a given cap; <paramref name="widePays"/>
    /// is asked only where an AVX-512 kernel could be taken without being forced.
    /// </summary>
    internal static InterleavedKernel? ChooseInterleaved(GgmlType type, KernelPath rowPath, KernelPath? forced, Func<bool> widePays)
    {
        if (rowPath is KernelPath.AvxVnni or KernelPath.Avx2 && forced is null or KernelPath.Avx512
            && Choose(s_interleaved, k => k.Type == type && k.Path == KernelPath.Avx512 && k.AlsoNeeds == rowPath && k.IsSupported, k => k.Path, forced) is { } wide
            && (forced == KernelPath.Avx512 || widePays()))
        {
            return wide;
        }

        return Choose(s_interleaved, k => k.Type == type && k.Path == rowPath && k.IsSupported, k => k.Path, forced);
    }

    /// <summary>
    /// Whether the AVX-512 prefill kernels beat those of <paramref name="rowPath"/> (AVX-VNNI or AVX2) here. Against
    /// AVX-VNNI they issue fewer instructions for the same work only where a 512-bit operation costs what a 256-bit
    /// one does (Zen 5 desktop and server cores); where it runs as two halves (Zen 5 in some laptops) they issue
    /// more. Against AVX2 (a CPU with AVX-512 but no AVX-VNNI, such as Zen 4) they do the same vpmaddubsw/vpmaddwd
    /// work in half the instructions. No CPUID bit tells the cases apart, so the first call times both on a small
    /// product (<see cref="WidthProbe"/>, about a millisecond); they give the same floats, so only speed depends on
    /// the answer. FIRST_KERNELS=avx512 takes them without asking, FIRST_KERNELS=avxvnni or avx2 never.
    /// </summary>
    public static bool WideIntegerPays(KernelPath rowPath) => WideIntegerTime(rowPath) < WidthProbe.Threshold;

    /// <summary>
    /// The AVX-512 Q4_0 prefill kernel's time over that of <paramref name="rowPath"/> (AVX-VNNI or AVX2) as measured
    /// here (see <see cref="WideIntegerPays"/>), or null where this process cannot run both.
    /// </summary>
    public static double? WideIntegerTime(KernelPath rowPath) => rowPath switch
    {
        KernelPath.AvxVnni => s_wideOverVnni.Value,
        KernelPath.Avx2 => s_wideOverAvx2.Value,
        _ => null,
    };

    /// <summary>The row path the AVX-512 prefill kernels pair with here: AVX-VNNI where the CPU has it, else AVX2; null without AVX-512.</summary>
    public static KernelPath? WideRowPath =>
        !IsSupported(KernelPath.Avx512) ? null : IsSupported(KernelPath.AvxVnni) ? KernelPath.AvxVnni : KernelPath.Avx2;

    private static readonly Lazy<double?> s_wideOverVnni = new(() => IsSupported(KernelPath.Avx512) && IsSupported(KernelPath.AvxVnni) ? WidthProbe.Measure(KernelPath.AvxVnni) : null);
    private static readonly Lazy<double?> s_wideOverAvx2 = new(() => IsSupported(KernelPath.Avx512) ? WidthProbe.Measure(KernelPath.Avx2) : null);

    /// <summary>The best quantizer into <paramref name="format"/>.</summary>
    public static QuantizeKernel ChooseQuantizer(ActivationFormat format) =>
        Choose(s_quantizers, k => k.Format == format, k => k.Path) ?? throw new NotSupportedException($"no quantizer for activations in {format}");

    /// <summary>Whether this machine (and this process: DOTNET_Enable* switches count) can run <paramref name="path"/>.</summary>
    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Vector => Vector128.IsHardwareAccelerated,
        KernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.AvxVnni => AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported && Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Neon => AdvSimd.Arm64.IsSupported,
        KernelPath.DotProd => AdvSimd.Arm64.IsSupported && Dp.IsSupported,
        _ => false,
    };

    /// <summary>What this machine offers, for logs: e.g. "avx512 avxvnni avx2 vector scalar".</summary>
    public static string Describe() =>
        string.Join(' ', Enum.GetValues<KernelPath>().Reverse().Where(IsSupported).Select(p => p.ToString().ToLowerInvariant()));

    internal static KernelPath? ParseForced(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var path = value.Trim().ToLowerInvariant() switch
        {
            "scalar" => KernelPath.Scalar,
            "vector" or "v128" or "portable" => KernelPath.Vector,
            "avx2" => KernelPath.Avx2,
            "avxvnni" or "vnni" => KernelPath.AvxVnni,
            "avx512" => KernelPath.Avx512,
            "neon" or "advsimd" => KernelPath.Neon,
            "dotprod" or "dp" or "sdot" => KernelPath.DotProd,
            _ => throw new ArgumentException($"{Variable}={value} is not a kernel path (scalar, vector, avx2, avxvnni, avx512, neon, dotprod)"),
        };
        return IsSupported(path)
            ? path
            : throw new PlatformNotSupportedException($"{Variable}={value}: this CPU (or process) cannot run the {path} path; it offers {Describe()}");
    }

    /// <summary>Whether <paramref name="candidate"/> is allowed under a forced <paramref name="cap"/>: the same ladder, no higher.</summary>
    internal static bool Allowed(KernelPath candidate, KernelPath? cap)
    {
        if (cap is not { } c || candidate is KernelPath.Scalar)
        {
            return true;
        }

        static int Rung(KernelPath p) => p switch
        {
            KernelPath.Vector => 1,
            KernelPath.Avx2 or KernelPath.Neon => 2,
            KernelPath.AvxVnni or KernelPath.DotProd => 3,
            KernelPath.Avx512 => 4,
            _ => 0,
        };

        static bool Arm(KernelPath p) => p is KernelPath.Neon or KernelPath.DotProd;
        var sameLadder = candidate == KernelPath.Vector || c == KernelPath.Vector || Arm(candidate) == Arm(c);
        return sameLadder && Rung(candidate) <= Rung(c);
    }

    private static T? Choose<T>(T[] all, Func<T, bool> fits, Func<T, KernelPath> pathOf) where T : struct => Choose(all, fits, pathOf, Forced);

    private static T? Choose<T>(T[] all, Func<T, bool> fits, Func<T, KernelPath> pathOf, KernelPath? forced)
        where T : struct
    {
        foreach (var k in all)
        {
            if (fits(k) && IsSupported(pathOf(k)) && Allowed(pathOf(k), forced))
            {
                return k;
            }
        }

        return null;
    }
}
