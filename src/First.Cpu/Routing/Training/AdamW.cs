namespace First.Cpu.Routing.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019) over a <see cref="RouterSet"/>'s
/// tensors, with global-norm gradient clipping. The moments are router sets of the same shape, so that a
/// checkpoint stores them as it stores the routers.
/// </summary>
public sealed class AdamW
{
    private const float Beta1 = 0.9f;
    private const float Beta2 = 0.999f;
    private const float Epsilon = 1e-8f;

    /// <summary>Moments for <paramref name="routers"/>, all zero.</summary>
    public AdamW(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        First = RouterSets.Like(routers);
        Second = RouterSets.Like(routers);
    }

    /// <summary>First moments.</summary>
    public RouterSet First { get; }

    /// <summary>Second moments.</summary>
    public RouterSet Second { get; }

    /// <summary>Steps taken (the bias correction depends on it).</summary>
    public int Steps { get; set; }

    /// <summary>
    /// Scales <paramref name="gradient"/> down to <paramref name="clipNorm"/> when its global norm exceeds it, then
    /// takes one step on <paramref name="routers"/>. Weight decay applies to W1 and W2, not to biases.
    /// Returns the norm before clipping.
    /// </summary>
    public double Step(RouterSet routers, RouterSet gradient, float learningRate, float weightDecay, float clipNorm)
    {
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(gradient);
        var squares = 0.0;
        foreach (var l in gradient.RoutedLayers)
        {
            foreach (var g in gradient.Routers[l]!.Tensors)
            {
                foreach (var v in g)
                {
                    squares += (double)v * v;
                }
            }
        }

        var norm = Math.Sqrt(squares);
        var scale = norm > clipNorm && norm > 0 ? (float)(clipNorm / norm) : 1f;
        Steps++;
        var correction1 = 1 - MathF.Pow(Beta1, Steps);
        var correction2 = 1 - MathF.Pow(Beta2, Steps);
        foreach (var l in routers.RoutedLayers)
        {
            var p = routers.Routers[l]!.Tensors;
            var g = gradient.Routers[l]!.Tensors;
            var m = First.Routers[l]!.Tensors;
            var v = Second.Routers[l]!.Tensors;
            for (var k = 0; k < p.Count; k++)
            {
                var decay = k is 0 or 2 ? weightDecay : 0f; // W1 and W2
                for (var i = 0; i < p[k].Length; i++)
                {
                    var gi = g[k][i] * scale;
                    m[k][i] = (Beta1 * m[k][i]) + ((1 - Beta1) * gi);
                    v[k][i] = (Beta2 * v[k][i]) + ((1 - Beta2) * gi * gi);
                    var update = m[k][i] / correction1 / (MathF.Sqrt(v[k][i] / correction2) + Epsilon);
                    p[k][i] -= learningRate * (update + (decay * p[k][i]));
                }
            }
        }

        return norm;
    }
}

/// <summary>Helpers over router sets as parameter containers.</summary>
public static class RouterSets
{
    /// <summary>A set of the same shape, every value zero.</summary>
    public static RouterSet Like(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        return new RouterSet(routers.LayerCount, routers.Embedding, routers.Hidden, routers.RoutedLayers);
    }

    /// <summary>Sets every value of <paramref name="routers"/> to zero.</summary>
    public static void Clear(RouterSet routers)
    {
        ArgumentNullException.ThrowIfNull(routers);
        foreach (var l in routers.RoutedLayers)
        {
            foreach (var t in routers.Routers[l]!.Tensors)
            {
                Array.Clear(t);
            }
        }
    }

    /// <summary>Multiplies every value by <paramref name="factor"/>.</summary>
    public static void Scale(RouterSet routers, float factor)
    {
        ArgumentNullException.ThrowIfNull(routers);
        foreach (var l in routers.RoutedLayers)
        {
            foreach (var t in routers.Routers[l]!.Tensors)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(t, factor, t);
            }
        }
    }
}
