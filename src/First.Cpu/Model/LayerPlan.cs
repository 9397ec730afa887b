namespace First.Cpu.Model;

/// <summary>
/// Which layers a forward pass runs (shared/FIRST.md): dense generation runs every layer; FiRST decides a
/// plan once per sequence at prefill and decoding honours it. Immutable.
/// </summary>
public sealed class LayerPlan
{
    private readonly bool[] _runs;

    private LayerPlan(bool[] runs)
    {
        _runs = runs;
        SkippedCount = runs.Count(r => !r);
    }

    /// <summary>Layers in the model.</summary>
    public int LayerCount => _runs.Length;

    /// <summary>Layers the plan skips.</summary>
    public int SkippedCount { get; }

    /// <summary>Whether layer <paramref name="layer"/> runs.</summary>
    public bool Runs(int layer) => _runs[layer];

    /// <summary>The skipped layers, ascending.</summary>
    public IReadOnlyList<int> Skipped => [.. Enumerable.Range(0, _runs.Length).Where(l => !_runs[l])];

    /// <summary>Every layer runs.</summary>
    public static LayerPlan Dense(int layerCount) => new([.. Enumerable.Repeat(true, layerCount)]);

    /// <summary>Every layer runs except <paramref name="skipped"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A layer index is outside 0..layerCount−1.</exception>
    public static LayerPlan Skipping(int layerCount, IEnumerable<int> skipped)
    {
        ArgumentNullException.ThrowIfNull(skipped);
        var runs = Enumerable.Repeat(true, layerCount).ToArray();
        foreach (var l in skipped)
        {
            if (l < 0 || l >= layerCount)
            {
                throw new ArgumentOutOfRangeException(nameof(skipped), l, $"layer {l} does not exist (the model has layers 0..{layerCount - 1})");
            }

            runs[l] = false;
        }

        return new LayerPlan(runs);
    }

    /// <inheritdoc/>
    public override string ToString() => SkippedCount == 0 ? "dense" : $"skip {string.Join(',', Skipped)}";
}
