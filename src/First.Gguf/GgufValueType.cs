namespace First.Gguf;

/// <summary>The metadata value types of GGUF (ggml/docs/gguf.md, <c>enum gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Sizes and names of <see cref="GgufValueType"/>.</summary>
public static class GgufValueTypes
{
    /// <summary>The byte size of a fixed-size value type, or 0 for string and array.</summary>
    public static int SizeOf(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>Whether <paramref name="type"/> is one of the thirteen types GGUF defines.</summary>
    public static bool IsDefined(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    /// <summary>Whether the type is an integer type.</summary>
    public static bool IsInteger(GgufValueType type) => type is GgufValueType.UInt8 or GgufValueType.Int8
        or GgufValueType.UInt16 or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32
        or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The name gguf-dump and llama.cpp print (UINT32, STRING, ...).</summary>
    public static string Name(GgufValueType type) => IsDefined(type) ? type.ToString().ToUpperInvariant() : $"type {(uint)type}";

    /// <summary>The smallest number of bytes one value of <paramref name="type"/> can take in a file.</summary>
    internal static long MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.String => 8,        // u64 length, no bytes
        GgufValueType.Array => 12,        // u32 element type, u64 count
        _ => SizeOf(type),
    };
}
