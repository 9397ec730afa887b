using System.Globalization;

namespace First.Gguf;

/// <summary>
/// One metadata value: a scalar, a string or an array. Scalars are held inline, strings as .NET
/// strings, arrays as <see cref="GgufArray"/> (which may point into a mapped file).
/// Equality is structural; floats compare by their bits so NaN payloads round-trip.
/// </summary>
public readonly struct GgufValue : IEquatable<GgufValue>
{
    private readonly ulong _bits;
    private readonly object? _ref;

    private GgufValue(GgufValueType type, ulong bits, object? reference)
    {
        Type = type;
        _bits = bits;
        _ref = reference;
    }

    /// <summary>The value's type.</summary>
    public GgufValueType Type { get; }

#pragma warning disable CS1591 // the factories say what they do
    public static GgufValue FromUInt8(byte v) => new(GgufValueType.UInt8, v, null);
    public static GgufValue FromInt8(sbyte v) => new(GgufValueType.Int8, (ulong)(long)v, null);
    public static GgufValue FromUInt16(ushort v) => new(GgufValueType.UInt16, v, null);
    public static GgufValue FromInt16(short v) => new(GgufValueType.Int16, (ulong)(long)v, null);
    public static GgufValue FromUInt32(uint v) => new(GgufValueType.UInt32, v, null);
    public static GgufValue FromInt32(int v) => new(GgufValueType.Int32, (ulong)(long)v, null);
    public static GgufValue FromUInt64(ulong v) => new(GgufValueType.UInt64, v, null);
    public static GgufValue FromInt64(long v) => new(GgufValueType.Int64, (ulong)v, null);
    public static GgufValue FromFloat32(float v) => new(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(v), null);
    public static GgufValue FromFloat64(double v) => new(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(v), null);
    public static GgufValue FromBool(bool v) => new(GgufValueType.Bool, v ? 1UL : 0UL, null);
    public static GgufValue FromString(string v) => new(GgufValueType.String, 0, v ?? throw new ArgumentNullException(nameof(v)));
    public static GgufValue FromArray(GgufArray v) => new(GgufValueType.Array, 0, v ?? throw new ArgumentNullException(nameof(v)));
#pragma warning restore CS1591

    /// <summary>A scalar from its raw little-endian bits, as stored in a file.</summary>
    internal static GgufValue FromRawBits(GgufValueType type, ulong bits) => type switch
    {
        GgufValueType.Int8 => FromInt8((sbyte)(byte)bits),
        GgufValueType.Int16 => FromInt16((short)(ushort)bits),
        GgufValueType.Int32 => FromInt32((int)(uint)bits),
        _ => new(type, bits, null),
    };

    /// <summary>The raw little-endian bits of a scalar, as a file stores them.</summary>
    internal ulong RawBits => _bits;

    /// <summary>Whether this is an integer of any width and sign.</summary>
    public bool IsInteger => GgufValueTypes.IsInteger(Type);

    /// <summary>The string; throws for any other type.</summary>
    public string AsString() => Type == GgufValueType.String ? (string)_ref! : throw WrongType("a string");

    /// <summary>The array; throws for any other type.</summary>
    public GgufArray AsArray() => Type == GgufValueType.Array ? (GgufArray)_ref! : throw WrongType("an array");

    /// <summary>The bool; throws for any other type. A stored byte other than 0 is true, as in llama.cpp.</summary>
    public bool AsBool() => Type == GgufValueType.Bool ? (_bits & 0xFF) != 0 : throw WrongType("a bool");

    /// <summary>An integer value of any width as a signed 128-bit number; throws for non-integers.</summary>
    public Int128 AsInteger() => Type switch
    {
        GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.UInt64 => _bits,
        GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64 => (long)_bits,
        _ => throw WrongType("an integer"),
    };

    /// <summary>A float or double as a double; throws for other types.</summary>
    public double AsFloat() => Type switch
    {
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits),
        _ => throw WrongType("a float"),
    };

    /// <inheritdoc/>
    public bool Equals(GgufValue other)
    {
        if (Type != other.Type)
        {
            return false;
        }

        return Type switch
        {
            GgufValueType.String => string.Equals((string?)_ref, (string?)other._ref, StringComparison.Ordinal),
            GgufValueType.Array => ((GgufArray)_ref!).ContentEquals((GgufArray)other._ref!),
            GgufValueType.Bool => AsBool() == other.AsBool(),
            _ => _bits == other._bits,
        };
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is GgufValue other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Type switch
    {
        GgufValueType.String => HashCode.Combine(Type, StringComparer.Ordinal.GetHashCode((string)_ref!)),
        GgufValueType.Array => HashCode.Combine(Type, ((GgufArray)_ref!).Count),
        _ => HashCode.Combine(Type, _bits),
    };

#pragma warning disable CS1591
    public static bool operator ==(GgufValue left, GgufValue right) => left.Equals(right);
    public static bool operator !=(GgufValue left, GgufValue right) => !left.Equals(right);
#pragma warning restore CS1591

    /// <summary>A short, human-readable rendering (arrays show their first <paramref name="arrayLimit"/> elements).</summary>
    public string ToDisplayString(int arrayLimit = 8) => Type switch
    {
        GgufValueType.String => Quote((string)_ref!),
        GgufValueType.Array => ((GgufArray)_ref!).ToDisplayString(arrayLimit),
        GgufValueType.Bool => AsBool() ? "true" : "false",
        GgufValueType.Float32 => ((float)AsFloat()).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => AsFloat().ToString("R", CultureInfo.InvariantCulture),
        _ => AsInteger().ToString(CultureInfo.InvariantCulture),
    };

    /// <inheritdoc/>
    public override string ToString() => ToDisplayString();

    internal static string Quote(string s)
    {
        var sb = new System.Text.StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }

    private InvalidCastException WrongType(string wanted) =>
        new($"the value is {GgufValueTypes.Name(Type)}, not {wanted}");
}
