using System.Runtime.InteropServices;

namespace First.Cpu.Model;

/// <summary>How keys and values are stored.</summary>
public enum KvCacheType
{
    /// <summary>IEEE half, as llama.cpp stores them by default.</summary>
    F16,

    /// <summary>Full floats.</summary>
    F32,
}

/// <summary>
/// Keys and values of one sequence, one allocation per layer so that a layer skipped for the rest of a
/// sequence can give its memory back. Layout per layer: <c>[kvHeads][capacity][headDim]</c>, so one head's
/// keys for positions 0..p are contiguous.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly void*[] _keys;
    private readonly void*[] _values;

    /// <summary>A cache for <paramref name="capacity"/> positions of every layer of <paramref name="config"/>.</summary>
    public KvCache(ModelConfig config, int capacity, KvCacheType type)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Type = type;
        Capacity = capacity;
        HeadCount = config.HeadCountKv;
        HeadDimension = config.HeadDimension;
        ElementBytes = type == KvCacheType.F16 ? 2 : 4;
        _keys = new void*[config.LayerCount];
        _values = new void*[config.LayerCount];
        for (var l = 0; l < config.LayerCount; l++)
        {
            _keys[l] = NativeMemory.AlignedAlloc((nuint)LayerBytes, 64);
            _values[l] = NativeMemory.AlignedAlloc((nuint)LayerBytes, 64);
        }
    }

    /// <summary>Element type.</summary>
    public KvCacheType Type { get; }

    /// <summary>Positions it holds.</summary>
    public int Capacity { get; }

    /// <summary>KV heads.</summary>
    public int HeadCount { get; }

    /// <summary>Values per head.</summary>
    public int HeadDimension { get; }

    /// <summary>Bytes per stored value.</summary>
    public int ElementBytes { get; }

    /// <summary>Bytes of keys (or of values) of one layer.</summary>
    public long LayerBytes => (long)HeadCount * Capacity * HeadDimension * ElementBytes;

    /// <summary>Bytes currently allocated.</summary>
    public long AllocatedBytes
    {
        get
        {
            long layers = 0;
            foreach (var k in _keys)
            {
                layers += k != null ? 1 : 0;
            }

            return layers * 2 * LayerBytes;
        }
    }

    /// <summary>Whether layer <paramref name="layer"/> still has its memory.</summary>
    public bool HasLayer(int layer) => _keys[layer] != null;

    /// <summary>Layer <paramref name="layer"/>'s keys, [kvHeads][capacity][headDim].</summary>
    public void* Keys(int layer) => _keys[layer] != null ? _keys[layer] : throw Released(layer);

    /// <summary>Layer <paramref name="layer"/>'s values, [kvHeads][capacity][headDim].</summary>
    public void* Values(int layer) => _values[layer] != null ? _values[layer] : throw Released(layer);

    /// <summary>Gives back layer <paramref name="layer"/>'s memory (a layer the sequence skips from now on).</summary>
    public void Release(int layer)
    {
        NativeMemory.AlignedFree(_keys[layer]);
        NativeMemory.AlignedFree(_values[layer]);
        _keys[layer] = null;
        _values[layer] = null;
    }

    /// <summary>Allocates layer <paramref name="layer"/> again if it was released (a new sequence).</summary>
    public void Restore(int layer)
    {
        if (_keys[layer] == null)
        {
            _keys[layer] = NativeMemory.AlignedAlloc((nuint)LayerBytes, 64);
            _values[layer] = NativeMemory.AlignedAlloc((nuint)LayerBytes, 64);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        for (var l = 0; l < _keys.Length; l++)
        {
            Release(l);
        }
    }

    private static InvalidOperationException Released(int layer) => new($"the KV cache of layer {layer} was released (the layer is skipped)");
}
