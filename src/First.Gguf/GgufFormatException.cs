namespace First.Gguf;

/// <summary>
/// A GGUF file (or a value read from one) that does not follow the format. The message names the
/// key or tensor concerned and the byte offset where the reader found the problem.
/// </summary>
public sealed class GgufFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GgufFormatException(string message, long offset = -1, string? key = null, string? tensor = null)
        : base(Compose(message, offset, key, tensor))
    {
        Offset = offset;
        Key = key;
        Tensor = tensor;
    }

    /// <summary>Byte offset in the file where the problem was found, or -1 when it has none.</summary>
    public long Offset { get; }

    /// <summary>The metadata key concerned, if any.</summary>
    public string? Key { get; }

    /// <summary>The tensor concerned, if any.</summary>
    public string? Tensor { get; }

    private static string Compose(string message, long offset, string? key, string? tensor)
    {
        var where = key is not null ? $"key '{key}'" : tensor is not null ? $"tensor '{tensor}'" : null;
        var at = offset >= 0 ? $"at byte {offset} (0x{offset:x})" : null;
        return (where, at) switch
        {
            (null, null) => message,
            (null, _) => $"{at}: {message}",
            (_, null) => $"{where}: {message}",
            _ => $"{where} {at}: {message}",
        };
    }
}
