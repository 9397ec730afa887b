namespace First.Gguf;

/// <summary>
/// One entry of a GGUF tensor table, validated against the file: its data lies inside the file,
/// is aligned and overlaps no other tensor.
/// </summary>
public sealed class GgufTensorInfo
{
    internal GgufTensorInfo(int index, string name, GgmlType type, long[] shape, long elementCount, long byteSize, long relativeOffset, long fileOffset)
    {
        Index = index;
        Name = name;
        Type = type;
        Shape = shape;
        ElementCount = elementCount;
        ByteSize = byteSize;
        RelativeOffset = relativeOffset;
        FileOffset = fileOffset;
    }

    /// <summary>Position in the file's tensor table.</summary>
    public int Index { get; }

    /// <summary>The tensor's name, e.g. <c>blk.0.attn_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public GgmlType Type { get; }

    /// <summary>Dimensions in ggml order: <c>Shape[0]</c> (ne0) is the row length, the fastest-varying one.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; }

    /// <summary>Bytes of tensor data.</summary>
    public long ByteSize { get; }

    /// <summary>Offset of the data relative to the start of the data section, as stored.</summary>
    public long RelativeOffset { get; }

    /// <summary>Absolute offset of the data in the file.</summary>
    public long FileOffset { get; }

    /// <summary>The row length (ne0).</summary>
    public long Columns => Shape[0];

    /// <summary>Number of rows: the product of every dimension but the first.</summary>
    public long Rows => Shape.Count == 0 ? 0 : ElementCount / Math.Max(Shape[0], 1);

    /// <summary>The shape as gguf-dump prints it: <c>64 x 512</c>.</summary>
    public string ShapeText => string.Join(" x ", Shape);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {GgmlTypes.NameOf((uint)Type)} [{ShapeText}]";
}
