using First.Cpu.Model;

namespace First.Cpu.Routing;

/// <summary>How router scores become a plan (shared/FIRST.md, Inference).</summary>
public sealed record RoutingOptions
{
    /// <summary>A routed layer whose mean score over the prompt is below tau is skipped.</summary>
    public float Tau { get; init; } = 0.5f;

    /// <summary>At most this many skipped layers (those with the lowest means); null: no cap.</summary>
    public int? MaxSkip { get; init; }

    /// <summary>At least this many skipped layers (the lowest means first); null: no floor.</summary>
    public int? MinSkip { get; init; }

    /// <summary>Apply the decisions to the prompt too, layer by layer as prefill reaches them.</summary>
    public bool SkipInPrefill { get; init; }

    /// <summary>Checks the values against a router set.</summary>
    /// <exception cref="ArgumentOutOfRangeException">tau outside (0, 1), or a budget beyond the routed layers.</exception>
    public void Validate(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        if (!(Tau > 0 && Tau < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Tau), Tau, "tau must be in (0, 1)");
        }

        var routed = routers.RoutedLayers.Count;
        if (MaxSkip is < 0 || MinSkip is < 0 || MaxSkip > routed || MinSkip > routed || MinSkip > MaxSkip)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSkip), $"skip budgets must satisfy 0 ≤ min-skip ≤ max-skip ≤ {routed} (the routed layers)");
        }
    }
}

/// <summary>Turns the mean router scores of a prompt into the layers decoding skips.</summary>
public static class RoutingDecision
{
    /// <summary>
    /// Skips every routed layer whose mean is below tau, then applies the budgets: beyond max-skip the
    /// highest means run again; under min-skip the lowest-scoring routed layers are added.
    /// </summary>
    public static LayerPlan Decide(RouterSet routers, IReadOnlyList<float> means, RoutingOptions options)
    {
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(options);
        var routed = routers.RoutedLayers.OrderBy(l => means[l]).ThenBy(l => l).ToList();
        var skipped = routed.Where(l => means[l] < options.Tau).ToList();
        if (options.MaxSkip is { } max && skipped.Count > max)
        {
            skipped = skipped.Take(max).ToList();
        }

        if (options.MinSkip is { } min && skipped.Count < min)
        {
            skipped = routed.Take(min).ToList();
        }

        return LayerPlan.Skipping(routers.LayerCount, skipped);
    }
}
