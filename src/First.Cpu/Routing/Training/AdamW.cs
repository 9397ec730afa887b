namespace First.Cpu.Routing.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019) over a list of parameter tensors
/// (a router set's, or adapters'), with global-norm gradient clipping. The moments are tensors of the same shapes,
/// which a checkpoint stores beside the parameters.
/// </summary>
public sealed class AdamW
{
    private const float Beta1 = 0.9f;
    private const float Beta2 = 0.999f;
    private const float Epsilon = 1e-8f;
    private readonly bool[] _decay;

    /// <summary>Moments for <paramref name="parameters"/>, all zero; <paramref name="decay"/> says which tensors get weight decay.</summary>
    public AdamW(IReadOnlyList<float[]> parameters, IReadOnlyList<bool> decay)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(decay);
        if (decay.Count != parameters.Count)
        {
            throw new ArgumentException("one decay flag per tensor", nameof(decay));
        }

        First = [.. parameters.Select(p => new float[p.Length])];
        Second = [.. parameters.Select(p => new float[p.Length])];
        _decay = [.. decay];
    }

    /// <summary>First moments, one per parameter tensor.</summary>
    public IReadOnlyList<float[]> First { get; }

    /// <summary>Second moments.</summary>
    public IReadOnlyList<float[]> Second { get; }

    /// <summary>Steps taken (the bias correction depends on it).</summary>
    public int Steps { get; set; }

    /// <summary>
    /// Scales <paramref name="gradient"/> down to <paramref name="clipNorm"/> when its global norm exceeds it, then
    /// takes one step on <paramref name="parameters"/> (weight decay on the tensors flagged at construction).
    /// Returns the norm before clipping.
    /// </summary>
    public double Step(IReadOnlyList<float[]> parameters, IReadOnlyList<float[]> gradient, float learningRate, float weightDecay, float clipNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(gradient);
        var squares = 0.0;
        foreach (var g in gradient)
        {
            foreach (var v in g)
            {
                squares += (double)v * v;
            }
        }

        var norm = Math.Sqrt(squares);
        var scale = norm > clipNorm && norm > 0 ? (float)(clipNorm / norm) : 1f;
        Steps++;
        var correction1 = 1 - MathF.Pow(Beta1, Steps);
        var correction2 = 1 - MathF.Pow(Beta2, Steps);
        for (var k = 0; k < parameters.Count; k++)
        {
            var p = parameters[k];
            var g = gradient[k];
            var m = First[k];
            var v = Second[k];
            var decay = _decay[k] ? weightDecay : 0f;
            for (var i = 0; i < p.Length; i++)
            {
                var gi = g[i] * scale;
                m[i] = (Beta1 * m[i]) + ((1 - Beta1) * gi);
                v[i] = (Beta2 * v[i]) + ((1 - Beta2) * gi * gi);
                var update = m[i] / correction1 / (MathF.Sqrt(v[i] / correction2) + Epsilon);
                p[i] -= learningRate * (update + (decay * p[i]));
            }
        }

        return norm;
    }
}

/// <summary>Router sets as parameter containers.</summary>
public static class RouterSets
{
    /// <summary>A set of the same shape, every value zero.</summary>
    public static RouterSet Like(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        return new RouterSet(routers.LayerCount, routers.Embedding, routers.Hidden, routers.RoutedLayers);
    }

    /// <summary>Every parameter tensor, routed layer by routed layer in <see cref="Router.Tensors"/> order (W1, B1, W2, B2).</summary>
    public static IReadOnlyList<float[]> Tensors(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        return [.. routers.RoutedLayers.SelectMany(l => routers.Routers[l]!.Tensors)];
    }

    /// <summary>Which of <see cref="Tensors"/> are matrices (W1, W2: weight decay) rather than biases.</summary>
    public static IReadOnlyList<bool> Matrices(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        return [.. routers.RoutedLayers.SelectMany(_ => new[] { true, false, true, false })];
    }
}

/// <summary>Operations on lists of tensors (parameters and gradients).</summary>
internal static class TensorLists
{
    /// <summary>Sets every value to zero.</summary>
    public static void Clear(IReadOnlyList<float[]> tensors)
    {
        foreach (var t in tensors)
        {
            Array.Clear(t);
        }
    }

    /// <summary>Multiplies every value by <paramref name="factor"/>.</summary>
    public static void Scale(IReadOnlyList<float[]> tensors, float factor)
    {
        foreach (var t in tensors)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(t, factor, t);
        }
    }
}
