using System.Collections;

namespace First.Gguf;

/// <summary>
/// The key/value metadata of a GGUF file, in file order, with typed getters. A getter that finds the
/// key with a type it cannot convert, or a number out of range, throws <see cref="GgufFormatException"/>
/// naming the key.
/// </summary>
public sealed class GgufMetadata : IReadOnlyList<KeyValuePair<string, GgufValue>>
{
    private readonly List<KeyValuePair<string, GgufValue>> _entries = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _offsets = new(StringComparer.Ordinal);

    /// <summary>Number of keys.</summary>
    public int Count => _entries.Count;

    /// <summary>The entry at a position.</summary>
    public KeyValuePair<string, GgufValue> this[int index] => _entries[index];

    /// <summary>The value of a key; a missing key throws <see cref="GgufFormatException"/>.</summary>
    public GgufValue this[string key] => TryGetValue(key, out var v) ? v : throw Missing(key);

    /// <summary>Every key in file order.</summary>
    public IEnumerable<string> Keys => _entries.Select(e => e.Key);

    /// <summary>Adds a key; a duplicate throws <see cref="ArgumentException"/>.</summary>
    public void Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!_index.TryAdd(key, _entries.Count))
        {
            throw new ArgumentException($"duplicate metadata key '{key}'", nameof(key));
        }

        _entries.Add(new(key, value));
    }

    /// <summary>Replaces the value of a key, or adds the key at the end.</summary>
    public void Set(string key, GgufValue value)
    {
        if (_index.TryGetValue(key, out var i))
        {
            _entries[i] = new(key, value);
        }
        else
        {
            Add(key, value);
        }
    }

    /// <summary>Removes a key if present.</summary>
    public bool Remove(string key)
    {
        if (!_index.Remove(key, out var i))
        {
            return false;
        }

        _entries.RemoveAt(i);
        for (var j = i; j < _entries.Count; j++)
        {
            _index[_entries[j].Key] = j;
        }

        return true;
    }

    /// <summary>Whether the key is present.</summary>
    public bool ContainsKey(string key) => _index.ContainsKey(key);

    /// <summary>The value of a key if present.</summary>
    public bool TryGetValue(string key, out GgufValue value)
    {
        if (_index.TryGetValue(key, out var i))
        {
            value = _entries[i].Value;
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>The byte offset of a key's entry in the file it was read from, or -1.</summary>
    public long OffsetOf(string key) => _offsets.TryGetValue(key, out var o) ? o : -1;

    internal void AddFromFile(string key, GgufValue value, long offset)
    {
        Add(key, value);
        _offsets[key] = offset;
    }

    /// <summary>A string value; missing key or other type throws.</summary>
    public string GetString(string key) => Convert(key, this[key], static v => v.AsString());

    /// <summary>A string value, or null when the key is absent.</summary>
    public string? GetStringOrNull(string key) => TryGetValue(key, out var v) ? Convert(key, v, static x => x.AsString()) : null;

    /// <summary>A bool value, or <paramref name="fallback"/> when absent.</summary>
    public bool GetBool(string key, bool fallback) => TryGetValue(key, out var v) ? Convert(key, v, static x => x.AsBool()) : fallback;

    /// <summary>An integer of any stored width that fits in uint; missing key throws.</summary>
    public uint GetUInt32(string key) => ToUInt32(key, this[key]);

    /// <summary>An integer that fits in uint, or null when absent.</summary>
    public uint? GetUInt32OrNull(string key) => TryGetValue(key, out var v) ? ToUInt32(key, v) : null;

    /// <summary>An integer of any stored width that fits in ulong; missing key throws.</summary>
    public ulong GetUInt64(string key) => ToUInt64(key, this[key]);

    /// <summary>An integer that fits in int, or null when absent.</summary>
    public int? GetInt32OrNull(string key) => TryGetValue(key, out var v) ? ToInt32(key, v) : null;

    /// <summary>A float (FLOAT32 or FLOAT64, narrowed); missing key throws.</summary>
    public float GetFloat32(string key) => ToFloat32(key, this[key]);

    /// <summary>A float, or null when absent.</summary>
    public float? GetFloat32OrNull(string key) => TryGetValue(key, out var v) ? ToFloat32(key, v) : null;

    /// <summary>An array; missing key or other type throws.</summary>
    public GgufArray GetArray(string key) => Convert(key, this[key], static v => v.AsArray());

    /// <summary>An array, or null when absent.</summary>
    public GgufArray? GetArrayOrNull(string key) => TryGetValue(key, out var v) ? Convert(key, v, static x => x.AsArray()) : null;

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private uint ToUInt32(string key, GgufValue v)
    {
        var n = Convert(key, v, static x => x.AsInteger());
        return n >= 0 && n <= uint.MaxValue ? (uint)n : throw OutOfRange(key, n, "uint32");
    }

    private int ToInt32(string key, GgufValue v)
    {
        var n = Convert(key, v, static x => x.AsInteger());
        return n >= int.MinValue && n <= int.MaxValue ? (int)n : throw OutOfRange(key, n, "int32");
    }

    private ulong ToUInt64(string key, GgufValue v)
    {
        var n = Convert(key, v, static x => x.AsInteger());
        return n >= 0 && n <= ulong.MaxValue ? (ulong)n : throw OutOfRange(key, n, "uint64");
    }

    private float ToFloat32(string key, GgufValue v) => (float)Convert(key, v, static x => x.AsFloat());

    private T Convert<T>(string key, GgufValue v, Func<GgufValue, T> read)
    {
        try
        {
            return read(v);
        }
        catch (InvalidCastException e)
        {
            throw new GgufFormatException(e.Message, OffsetOf(key), key);
        }
    }

    private GgufFormatException OutOfRange(string key, Int128 n, string wanted) =>
        new($"value {n} does not fit in {wanted}", OffsetOf(key), key);

    private static GgufFormatException Missing(string key) => new("missing key", -1, key);
}
