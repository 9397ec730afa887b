using System.Numerics.Tensors;

namespace First.Cpu.Routing;

/// <summary>
/// One FiRST router per routed layer (shared/FIRST.md): p = sigmoid(w2 · silu(W1 u + b1) + b2) on the
/// residual stream entering the layer, normalised without weights (u = h / rms(h)); with a hidden size of
/// 0 it is one linear layer, p = sigmoid(w · u + b). Parameters are plain float arrays (small: d · d_r).
/// </summary>
public sealed class RouterSet
{
    /// <summary>A set for a model of <paramref name="layerCount"/> layers of width <paramref name="embedding"/>.</summary>
    public RouterSet(int layerCount, int embedding, int hidden, IReadOnlyList<int> routedLayers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layerCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embedding);
        ArgumentOutOfRangeException.ThrowIfNegative(hidden);
        ArgumentNullException.ThrowIfNull(routedLayers);
        LayerCount = layerCount;
        Embedding = embedding;
        Hidden = hidden;
        var routers = new Router?[layerCount];
        foreach (var l in routedLayers)
        {
            if (l < 0 || l >= layerCount)
            {
                throw new ArgumentOutOfRangeException(nameof(routedLayers), l, $"layer {l} does not exist (0..{layerCount - 1})");
            }

            routers[l] = new Router(embedding, hidden);
        }

        Routers = routers;
        RoutedLayers = [.. Enumerable.Range(0, layerCount).Where(l => routers[l] is not null)];
    }

    /// <summary>Layers of the base model.</summary>
    public int LayerCount { get; }

    /// <summary>Width of the residual stream.</summary>
    public int Embedding { get; }

    /// <summary>Hidden size d_r of each router (0: linear).</summary>
    public int Hidden { get; }

    /// <summary>The router of each layer, or null for a layer that always runs.</summary>
    public IReadOnlyList<Router?> Routers { get; }

    /// <summary>The routed layers, ascending (fixed at construction, as <see cref="Routers"/> is).</summary>
    public IReadOnlyList<int> RoutedLayers { get; }

    /// <summary>FiRST's default routed layers: all but the first and the last.</summary>
    public static int[] DefaultRoutedLayers(int layerCount) => [.. Enumerable.Range(1, Math.Max(0, layerCount - 2))];
}

/// <summary>One layer's router.</summary>
public sealed class Router
{
    internal Router(int embedding, int hidden)
    {
        Embedding = embedding;
        Hidden = hidden;
        W1 = new float[Math.Max(hidden, 1) * embedding];
        B1 = new float[Math.Max(hidden, 1)];
        W2 = new float[Math.Max(hidden, 1)];
    }

    /// <summary>Input width.</summary>
    public int Embedding { get; }

    /// <summary>Hidden width (0: linear router, whose weights are the first row of <see cref="W1"/>).</summary>
    public int Hidden { get; }

    /// <summary>First layer, [max(hidden, 1)][embedding] (the linear router's w when hidden is 0).</summary>
    public float[] W1 { get; }

    /// <summary>First bias, [max(hidden, 1)] (the linear router's b is B2).</summary>
    public float[] B1 { get; }

    /// <summary>Second layer, [hidden].</summary>
    public float[] W2 { get; }

    /// <summary>Output bias.</summary>
    public float B2 { get; set; }

    /// <summary>p for one token's residual <paramref name="h"/>; <paramref name="scratch"/> holds Embedding + Hidden floats.</summary>
    public float Score(ReadOnlySpan<float> h, Span<float> scratch)
    {
        var u = scratch[..Embedding];
        var sum = 0.0;
        foreach (var v in h)
        {
            sum += v * v;
        }

        // u = h / rms(h), with RMSNorm's epsilon so that a zero vector stays finite.
        TensorPrimitives.Multiply(h, 1f / MathF.Sqrt((float)(sum / h.Length) + 1e-6f), u);
        float z;
        if (Hidden == 0)
        {
            z = TensorPrimitives.Dot(W1.AsSpan(0, Embedding), u) + B2;
        }
        else
        {
            var a = scratch.Slice(Embedding, Hidden);
            for (var j = 0; j < Hidden; j++)
            {
                var x = TensorPrimitives.Dot(W1.AsSpan(j * Embedding, Embedding), u) + B1[j];
                a[j] = x / (1f + MathF.Exp(-x));
            }

            z = TensorPrimitives.Dot(W2, a) + B2;
        }

        return 1f / (1f + MathF.Exp(-z));
    }
}
