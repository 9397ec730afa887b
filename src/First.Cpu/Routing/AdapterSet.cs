using System.Numerics.Tensors;

namespace First.Cpu.Routing;

/// <summary>
/// LoRA adapters that recover quality when layers are skipped (the FiRST paper's second stage; shared/FIRST.md):
/// on every layer, a low-rank correction of the two projections that write into the residual stream,
/// ao += s · B_o (A_o · attended) and ffn_out += s · B_d (A_d · swiglu), with s = alpha / rank. They are trained
/// with the routers frozen, for the layer sets the routers choose, and apply only in forward passes that skip a
/// layer (a dense pass is the base model unchanged). B starts at zero, so new adapters change nothing.
/// </summary>
public sealed class AdapterSet
{
    /// <summary>Adapters of rank <paramref name="rank"/> for a model of the given shape, all zero.</summary>
    public AdapterSet(int layerCount, int embedding, int queryLength, int feedForward, int rank, float alpha)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layerCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embedding);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(feedForward);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        if (!float.IsFinite(alpha) || alpha <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be a positive number");
        }

        LayerCount = layerCount;
        Embedding = embedding;
        QueryLength = queryLength;
        FeedForward = feedForward;
        Rank = rank;
        Alpha = alpha;
        Layers = [.. Enumerable.Range(0, layerCount).Select(_ => new LayerAdapter(embedding, queryLength, feedForward, rank))];
    }

    /// <summary>Layers of the base model.</summary>
    public int LayerCount { get; }

    /// <summary>Width of the residual stream.</summary>
    public int Embedding { get; }

    /// <summary>Width of the attention output (heads × head dimension).</summary>
    public int QueryLength { get; }

    /// <summary>Width of the feed-forward hidden layer.</summary>
    public int FeedForward { get; }

    /// <summary>Rank r of every adapter.</summary>
    public int Rank { get; }

    /// <summary>LoRA's alpha; the correction is scaled by alpha / rank.</summary>
    public float Alpha { get; }

    /// <summary>alpha / rank.</summary>
    public float Scale => Alpha / Rank;

    /// <summary>The adapters of each layer.</summary>
    public IReadOnlyList<LayerAdapter> Layers { get; }

    /// <summary>Every parameter tensor, layer by layer in <see cref="LayerAdapter.Tensors"/> order.</summary>
    public IReadOnlyList<float[]> Tensors => [.. Layers.SelectMany(a => a.Tensors)];

    /// <summary>Whether these adapters are shaped for a model of <paramref name="config"/> (layers and the three widths).</summary>
    public bool Fits(Model.ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return LayerCount == config.LayerCount && Embedding == config.EmbeddingLength && QueryLength == config.QueryLength
            && FeedForward == config.FeedForwardLength;
    }

    /// <summary>An all-zero set of the same shape (for gradients and optimiser moments).</summary>
    public AdapterSet Like() => new(LayerCount, Embedding, QueryLength, FeedForward, Rank, Alpha);

    /// <summary>
    /// y[t] += s · B (A x[t]) for <paramref name="n"/> rows; A·x[t] is left in <paramref name="low"/> ([n][rank]),
    /// which the backward pass reads. Allocates nothing.
    /// </summary>
    internal static unsafe void Apply(float[] a, float[] b, int rank, float scale, float* x, int inWidth, float* y, int outWidth, int n, float* low)
    {
        for (var t = 0; t < n; t++)
        {
            var xt = new ReadOnlySpan<float>(x + ((long)t * inWidth), inWidth);
            var lt = new Span<float>(low + ((long)t * rank), rank);
            for (var j = 0; j < rank; j++)
            {
                lt[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(a, j * inWidth, inWidth), xt);
            }

            // B is stored [rank][out]: y += Σ_j (s · low[j]) B_j, rank vector passes over y.
            var yt = new Span<float>(y + ((long)t * outWidth), outWidth);
            for (var j = 0; j < rank; j++)
            {
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b, j * outWidth, outWidth), scale * lt[j], yt, yt);
            }
        }
    }

    /// <summary>
    /// Backward of y += s · B (A x) for <paramref name="n"/> rows given dLoss/dy (<paramref name="gy"/>) and the saved
    /// A·x (<paramref name="low"/>): adds to the gradients of A and B, and, with <paramref name="gx"/> not null, adds
    /// dLoss/dx there. <paramref name="scratch"/> holds <paramref name="rank"/> floats.
    /// </summary>
    internal static unsafe void Backward(float[] a, float[] b, float[] ga, float[] gb, int rank, float scale, float* x, int inWidth,
        float* gy, int outWidth, int n, float* low, float* gx, Span<float> scratch)
    {
        var gLow = scratch[..rank];
        for (var t = 0; t < n; t++)
        {
            var gyt = new ReadOnlySpan<float>(gy + ((long)t * outWidth), outWidth);
            var lt = new ReadOnlySpan<float>(low + ((long)t * rank), rank);
            var xt = new ReadOnlySpan<float>(x + ((long)t * inWidth), inWidth);

            // dB_j += s · low[j] · gy; dlow[j] = s · B_j · gy.
            for (var j = 0; j < rank; j++)
            {
                var row = new Span<float>(gb, j * outWidth, outWidth);
                TensorPrimitives.MultiplyAdd(gyt, scale * lt[j], row, row);
                gLow[j] = scale * TensorPrimitives.Dot(new ReadOnlySpan<float>(b, j * outWidth, outWidth), gyt);
            }

            // dA[j] += dlow[j] · x; dx += Σ_j dlow[j] · A[j].
            for (var j = 0; j < rank; j++)
            {
                var row = new Span<float>(ga, j * inWidth, inWidth);
                TensorPrimitives.MultiplyAdd(xt, gLow[j], row, row);
                if (gx != null)
                {
                    var gxt = new Span<float>(gx + ((long)t * inWidth), inWidth);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a, j * inWidth, inWidth), gLow[j], gxt, gxt);
                }
            }
        }
    }
}

/// <summary>
/// One layer's adapters: A_o [rank][query length], B_o [rank][embedding], A_d [rank][feed-forward], B_d [rank][embedding]
/// (B row-major by rank, so that applying it is rank passes over the output row).
/// </summary>
public sealed class LayerAdapter
{
    internal LayerAdapter(int embedding, int queryLength, int feedForward, int rank)
    {
        OutputA = new float[rank * queryLength];
        OutputB = new float[embedding * rank];
        DownA = new float[rank * feedForward];
        DownB = new float[embedding * rank];
    }

    /// <summary>A of the attention output projection, [rank][query length].</summary>
    public float[] OutputA { get; }

    /// <summary>B of the attention output projection, [rank][embedding].</summary>
    public float[] OutputB { get; }

    /// <summary>A of the feed-forward down projection, [rank][feed-forward].</summary>
    public float[] DownA { get; }

    /// <summary>B of the feed-forward down projection, [rank][embedding].</summary>
    public float[] DownB { get; }

    /// <summary>OutputA, OutputB, DownA, DownB.</summary>
    public IReadOnlyList<float[]> Tensors => [OutputA, OutputB, DownA, DownB];

    /// <summary>The router file's name of each of <see cref="Tensors"/> within a layer (<c>lora.{layer}.{name}</c>).</summary>
    public static IReadOnlyList<string> TensorNames { get; } = ["attn_output.a", "attn_output.b", "ffn_down.a", "ffn_down.b"];
}
