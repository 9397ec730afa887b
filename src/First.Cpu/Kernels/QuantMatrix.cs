using First.Cpu.Quants;
using First.Gguf;

namespace First.Cpu.Kernels;

/// <summary>
/// A weight matrix as it lies in the mapped file, in its stored format: Rows rows of Cols values
/// (ggml's ne1 × ne0), with its dot kernel and activation quantizer chosen once.
/// </summary>
public readonly unsafe struct QuantMatrix
{
    /// <summary>A matrix over <paramref name="data"/> (not copied; must outlive the matrix).</summary>
    public QuantMatrix(byte* data, GgmlType type, int rows, int cols)
        : this(data, type, rows, cols, null)
    {
    }

    /// <summary>
    /// A matrix over <paramref name="data"/>; where its format and path have an interleaved kernel and the
    /// rows come in groups of eight, products use an interleaved copy made on first use, after which
    /// <paramref name="releaseSource"/> (if any) is told that the source bytes are no longer read by products.
    /// Rows that do not come in eights (a vocabulary of 32001, stories260K's feed-forward of 172) stay row by row
    /// for the whole matrix, as llama.cpp keeps them (its CPU repack takes only matrices whose rows do), so the
    /// sums stay in its order: interleaving the first 168 of 172 rows moved stories260K's logits by 0.15 against
    /// llama.cpp's (ModelParityTests).
    /// </summary>
    public QuantMatrix(byte* data, GgmlType type, int rows, int cols, Action<nint, long>? releaseSource)
        : this(data, type, rows, cols, releaseSource, interleave: true)
    {
    }

    private QuantMatrix(byte* data, GgmlType type, int rows, int cols, Action<nint, long>? releaseSource, bool interleave)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Format = QuantFormats.Get(type);
        if (!Format.IsWeightFormat || cols % Format.Info.BlockSize != 0)
        {
            throw new NotSupportedException($"a {Format.Info.Name} matrix with rows of {cols} values cannot be multiplied");
        }

        Data = data;
        Rows = rows;
        Cols = cols;
        RowBytes = Format.RowBytes(cols);
        Kernel = KernelRegistry.ChooseDot(type);
        Quantizer = KernelRegistry.ChooseQuantizer(Format.Activation);
        Interleaved = interleave && rows % Interleaved8.Rows == 0 && KernelRegistry.ChooseInterleaved(type, Kernel) is { } k
            ? new InterleavedRows(data, rows, RowBytes, k, releaseSource)
            : null;
    }

    private QuantMatrix(QuantMatrix m, DotKernel kernel, InterleavedRows? interleaved)
    {
        this = m;
        Kernel = kernel.Type == m.Format.Type && kernel.IsSupported
            ? kernel
            : throw new ArgumentException($"kernel {kernel.Name} cannot multiply a {m.Format.Info.Name} matrix on this machine", nameof(kernel));
        Interleaved = interleaved;
    }

    /// <summary>The same matrix multiplied row by row with another dot kernel of its format (for benchmarks and tests comparing paths).</summary>
    public QuantMatrix WithKernel(DotKernel kernel) => new(this, kernel, null);

    /// <summary>The same matrix multiplied through an interleaved copy with <paramref name="kernel"/> (for benchmarks and tests comparing paths).</summary>
    public QuantMatrix WithInterleavedKernel(InterleavedKernel kernel) =>
        kernel.Type == Format.Type && kernel.IsSupported && Rows % Interleaved8.Rows == 0
            ? new(this, Kernel, new InterleavedRows(Data, Rows, RowBytes, kernel, null))
            : throw new ArgumentException($"kernel {kernel.Name} cannot multiply a {Format.Info.Name} matrix of {Rows} rows on this machine", nameof(kernel));

    /// <summary>First byte of row 0.</summary>
    public byte* Data { get; }

    /// <summary>Output size.</summary>
    public int Rows { get; }

    /// <summary>Input size (values per row).</summary>
    public int Cols { get; }

    /// <summary>Bytes per row.</summary>
    public int RowBytes { get; }

    /// <summary>The weight format.</summary>
    public QuantFormat Format { get; }

    /// <summary>The activation layout the dot product wants.</summary>
    public ActivationFormat Activations => Format.Activation;

    /// <summary>The dot kernel.</summary>
    public DotKernel Kernel { get; }

    /// <summary>The interleaved copy products go through, or null where rows are multiplied one by one.</summary>
    public InterleavedRows? Interleaved { get; }

    /// <summary>The quantizer of input rows into <see cref="Activations"/>.</summary>
    public QuantizeKernel Quantizer { get; }

    /// <summary>Bytes one quantized input row takes.</summary>
    public int ActivationRowBytes => Activations.Bytes(Cols);

    /// <summary>Total bytes of weights.</summary>
    public long Bytes => (long)RowBytes * Rows;

    /// <summary>A matrix over a 2-D tensor of a mapped GGUF file.</summary>
    public static QuantMatrix FromTensor(GgufFile file, GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Shape.Count != 2 && !(tensor.Shape.Count > 2 && tensor.Shape.Skip(2).All(d => d == 1)))
        {
            throw new NotSupportedException($"tensor '{tensor.Name}' has shape [{tensor.ShapeText}], not a matrix");
        }

        return new QuantMatrix(file.GetTensorPointer(tensor), tensor.Type, checked((int)tensor.Shape[1]), checked((int)tensor.Shape[0]),
            (start, length) => file.ReleasePages((byte*)start, length));
    }

    /// <summary>
    /// Rows <paramref name="first"/>..<paramref name="first"/> + <paramref name="rows"/> − 1 of a 2-D tensor as a matrix of their
    /// own: a view of a fused projection (Phi-3's attn_qkv, its ffn_up holding gate and up), whose outputs llama.cpp takes
    /// as views of the fused product. Each row's sum is the same; the rows are interleaved in eights only where the whole
    /// tensor's are, as llama.cpp repacks the whole tensor or none of it.
    /// </summary>
    public static QuantMatrix FromTensorRows(GgufFile file, GgufTensorInfo tensor, int first, int rows)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(tensor);
        var whole = FromTensor(file, tensor);
        if (first < 0 || rows <= 0 || first + rows > whole.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), $"rows {first}..{first + rows - 1} of tensor '{tensor.Name}', which has {whole.Rows}");
        }

        return new QuantMatrix(whole.Data + ((long)first * whole.RowBytes), tensor.Type, rows, whole.Cols,
            (start, length) => file.ReleasePages((byte*)start, length), interleave: whole.Rows % Interleaved8.Rows == 0);
    }
}
