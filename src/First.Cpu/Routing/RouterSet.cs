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

    /// <summary>LoRA adapters trained for these routers' decisions (applied in passes that skip a layer), or null.</summary>
    public AdapterSet? Adapters { get; set; }

    /// <summary>
    /// Linear routers that ignore their input and always choose <paramref name="skipped"/> (scores sigmoid(∓8)): a fixed
    /// layer list in the shape of routers, so that adapters can be trained for a static method and compared.
    /// </summary>
    public static RouterSet Fixed(int layerCount, int embedding, IReadOnlyList<int> routedLayers, IReadOnlyCollection<int> skipped)
    {
        ArgumentNullException.ThrowIfNull(skipped);
        var set = new RouterSet(layerCount, embedding, 0, routedLayers);
        foreach (var l in skipped)
        {
            if (!set.RoutedLayers.Contains(l))
            {
                throw new ArgumentOutOfRangeException(nameof(skipped), l, $"layer {l} is not a routed layer ({string.Join(',', set.RoutedLayers)})");
            }
        }

        foreach (var l in set.RoutedLayers)
        {
            set.Routers[l]!.B2 = skipped.Contains(l) ? -8f : 8f;
        }

        return set;
    }

    /// <summary>FiRST's default routed layers: all but the first and the last.</summary>
    public static int[] DefaultRoutedLayers(int layerCount) => [.. Enumerable.Range(1, Math.Max(0, layerCount - 2))];
}

/// <summary>One layer's router.</summary>
public sealed class Router
{
    /// <summary>RMSNorm's epsilon, so that a zero residual still gives a finite u.</summary>
    internal const float Epsilon = 1e-6f;

    private readonly float[] _b2 = new float[1];

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
    public float B2
    {
        get => _b2[0];
        set => _b2[0] = value;
    }

    /// <summary>Every parameter tensor, in a fixed order (for optimisers and checkpoints): W1, B1, W2, B2.</summary>
    public IReadOnlyList<float[]> Tensors => [W1, B1, W2, _b2];

    /// <summary>Floats of scratch <see cref="Score"/> and <see cref="Forward"/> need: Embedding + Hidden.</summary>
    public int ScratchLength => Embedding + Hidden;

    /// <summary>p for one token's residual <paramref name="h"/>; <paramref name="scratch"/> holds <see cref="ScratchLength"/> floats.</summary>
    public float Score(ReadOnlySpan<float> h, Span<float> scratch) => Forward(h, scratch);

    /// <summary>
    /// p for <paramref name="h"/>, leaving in <paramref name="scratch"/> what the backward pass needs:
    /// u = h / rms(h) in the first Embedding floats, then the hidden pre-activations W1 u + b1.
    /// </summary>
    internal float Forward(ReadOnlySpan<float> h, Span<float> scratch)
    {
        var u = scratch[..Embedding];
        var inverse = InverseRms(h);
        TensorPrimitives.Multiply(h, inverse, u);
        return Sigmoid(Logit(u, scratch.Slice(Embedding, Hidden)));
    }

    /// <summary>
    /// Adds the gradient of a loss with respect to this router's parameters to <paramref name="gradient"/>, given
    /// dLoss/dp = <paramref name="gp"/> for a token whose <see cref="Forward"/> left <paramref name="saved"/> and
    /// returned <paramref name="p"/>. With <paramref name="gh"/> not empty, also adds dLoss/dh there (the residual
    /// <paramref name="h"/> the router read).
    /// </summary>
    internal void Backward(ReadOnlySpan<float> h, ReadOnlySpan<float> saved, float p, float gp, Router gradient, Span<float> gh, Span<float> scratch)
    {
        var u = saved[..Embedding];
        var gz = gp * p * (1f - p); // d sigmoid
        gradient._b2[0] += gz;
        var gu = scratch[..Embedding];
        if (Hidden == 0)
        {
            // z = w · u + b2.
            TensorPrimitives.MultiplyAdd(u, gz, gradient.W1.AsSpan(0, Embedding), gradient.W1.AsSpan(0, Embedding));
            TensorPrimitives.Multiply(W1.AsSpan(0, Embedding), gz, gu);
        }
        else
        {
            // z = w2 · silu(a) + b2, a = W1 u + b1.
            var a = saved.Slice(Embedding, Hidden);
            gu.Clear();
            for (var j = 0; j < Hidden; j++)
            {
                var s = Sigmoid(a[j]);
                gradient.W2[j] += gz * a[j] * s;
                var ga = gz * W2[j] * s * (1f + (a[j] * (1f - s)));
                gradient.B1[j] += ga;
                var row = gradient.W1.AsSpan(j * Embedding, Embedding);
                TensorPrimitives.MultiplyAdd(u, ga, row, row);
                TensorPrimitives.MultiplyAdd(W1.AsSpan(j * Embedding, Embedding), ga, gu, gu);
            }
        }

        if (!gh.IsEmpty)
        {
            // u = h · r with r = (mean h² + eps)^(−1/2): dh = r · gu − h · r³ · (gu · h) / d.
            var r = InverseRms(h);
            var dot = TensorPrimitives.Dot(gu, h);
            TensorPrimitives.MultiplyAdd(gu, r, gh, gh);
            TensorPrimitives.MultiplyAdd(h, -r * r * r * dot / Embedding, gh, gh);
        }
    }

    /// <summary>z = w2 · silu(W1 u + b1) + b2 (or w · u + b2), leaving W1 u + b1 in <paramref name="a"/>.</summary>
    private float Logit(ReadOnlySpan<float> u, Span<float> a)
    {
        if (Hidden == 0)
        {
            return TensorPrimitives.Dot(W1.AsSpan(0, Embedding), u) + B2;
        }

        var z = 0f;
        for (var j = 0; j < Hidden; j++)
        {
            var x = TensorPrimitives.Dot(W1.AsSpan(j * Embedding, Embedding), u) + B1[j];
            a[j] = x;
            z += W2[j] * x * Sigmoid(x);
        }

        return z + B2;
    }

    private static float InverseRms(ReadOnlySpan<float> h)
    {
        var sum = 0.0;
        foreach (var v in h)
        {
            sum += v * v;
        }

        return 1f / MathF.Sqrt((float)(sum / h.Length) + Epsilon);
    }

    internal static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
