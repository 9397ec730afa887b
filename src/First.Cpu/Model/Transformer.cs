using System.Numerics.Tensors;
using First.Cpu.Kernels;

namespace First.Cpu.Model;

/// <summary>
/// The forward pass of llama, qwen2, qwen3, gemma2, gemma3 and phi3 (llama.cpp's src/models/*.cpp of the same names),
/// composed of kernels: per layer RMSNorm → Q, K, V (+ biases; + per-head RMSNorm) → RoPE (→ query scale) → KV cache →
/// attention (window, soft-cap) → output projection (→ post norm) → residual; RMSNorm → gate, up → SwiGLU or GEGLU → down
/// (→ post norm) → residual; final norm, output (→ soft-cap). Layers the plan skips are not touched:
/// no weight read, no KV written.
/// </summary>
internal static unsafe class Transformer
{
    /// <summary>
    /// Evaluates <paramref name="n"/> ≤ BatchSize tokens at positions start..start+n−1. With
    /// <paramref name="allLogits"/> null only the last token's logits are computed, into the session's buffer.
    /// The first <paramref name="tiledTokens"/> are attended as llama.cpp's tiled kernel does (Attention.TiledTokens).
    /// </summary>
    public static void Forward(Session s, int* tokens, int n, int start, int tiledTokens, LayerPlan plan, float* allLogits)
    {
        var c = s.Config;
        var w = s.Weights;
        var d = c.EmbeddingLength;

        // x[t] = embedding row of token t (dequantized as ggml_get_rows does).
        var embedding = w.TokenEmbedding;
        for (var t = 0; t < n; t++)
        {
            embedding.Format.Dequantize(embedding.Data + ((long)tokens[t] * embedding.RowBytes), s.X + ((long)t * d), d);
        }

        if (c.IsGemma)
        {
            Elementwise.Scale(new Span<float>(s.X, n * d), c.EmbeddingScale);
        }

        // RoPE angles of the batch's positions: the same for every layer and head.
        var half = c.RopeDimensions / 2;
        var factors = w.RopeFactorsFor(s.ContextLength);
        for (var t = 0; t < n; t++)
        {
            Elementwise.RopeAngles(start + t, c.RopeDimensions, c.RopeFreqBase, c.RopeFreqScale, factors, c.RopeAttentionFactor,
                new Span<float>(s.RopeCos + ((long)t * half), half), new Span<float>(s.RopeSin + ((long)t * half), half));
            if (c.HasSlidingRope)
            {
                Elementwise.RopeAngles(start + t, c.RopeDimensions, c.RopeFreqBaseSwa, c.RopeFreqScaleSwa, factors, c.RopeAttentionFactor,
                    new Span<float>(s.RopeCosSliding + ((long)t * half), half), new Span<float>(s.RopeSinSliding + ((long)t * half), half));
            }
        }

        // Adapters trained for skipping apply only in passes that skip (shared/FIRST.md: LoRA recovers quality).
        var adapters = s.AdaptersFor(plan);
        for (var l = 0; l < c.LayerCount; l++)
        {
            var skipNow = s.Route(l, n, start);
            if (plan.Runs(l) && !skipNow)
            {
                Layer(s, w.Layers[l], l, n, start, tiledTokens, adapters);
            }
        }

        if (allLogits != null)
        {
            Norm(s.X, w.OutputNorm, c.RmsEpsilon, s.Normed, n, d);
            MatMul.Multiply(w.Output, s.Normed, d, n, s.Quantized, allLogits, c.VocabularySize, s.Pool);
            Softcap(allLogits, (long)n * c.VocabularySize, c.FinalSoftcap);
            new ReadOnlySpan<float>(allLogits + ((long)(n - 1) * c.VocabularySize), c.VocabularySize).CopyTo(new Span<float>(s.LogitsBuffer, c.VocabularySize));
        }
        else
        {
            var last = s.X + ((long)(n - 1) * d);
            Norm(last, w.OutputNorm, c.RmsEpsilon, s.Normed, 1, d);
            MatMul.Multiply(w.Output, s.Normed, d, 1, s.Quantized, s.LogitsBuffer, c.VocabularySize, s.Pool);
            Softcap(s.LogitsBuffer, c.VocabularySize, c.FinalSoftcap);
        }
    }

    /// <summary>x = cap · tanh(x · (1 / cap)) where cap ≠ 0: ggml_scale, ggml_tanh (tanhf), ggml_scale as the Gemma graphs chain them.</summary>
    internal static void Softcap(float* x, long count, float cap)
    {
        if (cap == 0)
        {
            return;
        }

        var inverse = 1f / cap;
        for (long i = 0; i < count; i++)
        {
            x[i] = MathF.Tanh(x[i] * inverse) * cap;
        }
    }

    private static void Layer(Session s, LayerWeights lw, int layer, int n, int start, int tiledTokens, Routing.AdapterSet? adapters)
    {
        var c = s.Config;
        var d = c.EmbeddingLength;
        var hd = c.HeadDimension;
        var qLen = c.QueryLength;
        var kvLen = c.KvLength;

        // Attention block.
        Norm(s.X, lw.AttentionNorm, c.RmsEpsilon, s.Normed, n, d);
        Project(s, s.Normed, d, n, lw.Query, s.Q, lw.Key, s.K, lw.Value, s.V);
        AddBias(s.Q, lw.QueryBias, n, qLen);
        AddBias(s.K, lw.KeyBias, n, kvLen);
        AddBias(s.V, lw.ValueBias, n, kvLen);
        if (lw.QueryNorm != null)
        {
            Norm(s.Q, lw.QueryNorm, c.RmsEpsilon, s.Q, n * c.HeadCount, hd);
            Norm(s.K, lw.KeyNorm, c.RmsEpsilon, s.K, n * c.HeadCountKv, hd);
        }

        var half = c.RopeDimensions / 2;
        var sliding = c.IsSliding(layer);
        var ropeCos = sliding ? s.RopeCosSliding : s.RopeCos;
        var ropeSin = sliding ? s.RopeSinSliding : s.RopeSin;
        for (var t = 0; t < n; t++)
        {
            var pos = start + t;
            var cos = new ReadOnlySpan<float>(ropeCos + ((long)t * half), half);
            var sin = new ReadOnlySpan<float>(ropeSin + ((long)t * half), half);
            for (var h = 0; h < c.HeadCount; h++)
            {
                Elementwise.Rope(new Span<float>(s.Q + ((long)t * qLen) + (h * hd), hd), cos, sin, c.RopeNeox);
            }

            for (var g = 0; g < c.HeadCountKv; g++)
            {
                var k = s.K + ((long)t * kvLen) + (g * hd);
                Elementwise.Rope(new Span<float>(k, hd), cos, sin, c.RopeNeox);
                Store(s.Cache, s.Cache.Keys(layer), g, pos, k);
                Store(s.Cache, s.Cache.Values(layer), g, pos, s.V + ((long)t * kvLen) + (g * hd));
            }
        }

        if (c.QueryScale != 1f)
        {
            Elementwise.Scale(new Span<float>(s.Q, n * qLen), c.QueryScale); // after RoPE, as ggml_scale in the Gemma graphs
        }

        var job = new AttentionJob
        {
            Queries = s.Q,
            Output = s.Attended,
            Keys = s.Cache.Keys(layer),
            Values = s.Cache.Values(layer),
            Half = s.Cache.Type == KvCacheType.F16,
            Capacity = s.Cache.Capacity,
            Heads = c.HeadCount,
            KvHeads = c.HeadCountKv,
            HeadDimension = hd,
            Tokens = n,
            StartPosition = start,
            Scale = c.AttentionScale,
            Softcap = c.AttentionSoftcap,
            Window = sliding ? c.SlidingWindow : 0,
            Scratch = s.AttentionScratch,
            TiledTokens = tiledTokens,
            ViewCells = Attention.ViewCells(start + n, s.ContextLength),
            KvSplits = s.Pool.Threads,
            Partials = s.AttentionPartials,
        };
        Attention.Run(ref job, s.Pool);
        MatMul.Multiply(lw.Output, s.Attended, qLen, n, s.Quantized, s.Normed, d, s.Pool);
        var adapter = adapters?.Layers[layer];
        if (adapter is not null)
        {
            Routing.AdapterSet.Apply(adapter.OutputA, adapter.OutputB, adapters!.Rank, adapters.Scale, s.Attended, qLen, s.Normed, d, n, s.AdapterLow);
        }

        if (lw.PostAttentionNorm != null)
        {
            Norm(s.Normed, lw.PostAttentionNorm, c.RmsEpsilon, s.Normed, n, d);
        }

        Residual(s.X, s.Normed, n * d);

        // Feed-forward block.
        Norm(s.X, lw.FeedForwardNorm, c.RmsEpsilon, s.Normed, n, d);
        Project(s, s.Normed, d, n, lw.Gate, s.Gate, lw.Up, s.Up, default, null);
        var ff = c.FeedForwardLength;
        var all = (long)n * ff;
        if (c.IsGemma)
        {
            Elementwise.GeGlu(new ReadOnlySpan<float>(s.Gate, (int)all), new ReadOnlySpan<float>(s.Up, (int)all), new Span<float>(s.Gate, (int)all));
        }
        else
        {
            Elementwise.SwiGlu(new ReadOnlySpan<float>(s.Gate, (int)all), new ReadOnlySpan<float>(s.Up, (int)all), new Span<float>(s.Gate, (int)all), ff);
        }
        MatMul.Multiply(lw.Down, s.Gate, ff, n, s.Quantized, s.Normed, d, s.Pool);
        if (adapter is not null)
        {
            Routing.AdapterSet.Apply(adapter.DownA, adapter.DownB, adapters!.Rank, adapters.Scale, s.Gate, ff, s.Normed, d, n, s.AdapterLow);
        }

        if (lw.PostFeedForwardNorm != null)
        {
            Norm(s.Normed, lw.PostFeedForwardNorm, c.RmsEpsilon, s.Normed, n, d);
        }

        Residual(s.X, s.Normed, n * d);
    }

    /// <summary>y[t] = RMSNorm(x[t]) ⊙ weight for n rows of d.</summary>
    private static void Norm(float* x, float* weight, float eps, float* y, int n, int d)
    {
        var wt = new ReadOnlySpan<float>(weight, d);
        for (var t = 0; t < n; t++)
        {
            Elementwise.RmsNorm(new ReadOnlySpan<float>(x + ((long)t * d), d), wt, eps, new Span<float>(y + ((long)t * d), d));
        }
    }

    /// <summary>
    /// Two or three projections of the same input: the input is quantized once when the matrices want the
    /// same activation format (they almost always do).
    /// </summary>
    private static void Project(Session s, float* x, int d, int n, QuantMatrix a, float* ya, QuantMatrix b, float* yb, QuantMatrix c, float* yc)
    {
        MatMul.QuantizeInputs(a, x, d, n, s.Quantized, s.Pool);
        MatMul.Multiply(a, s.Quantized, n, ya, a.Rows, s.Pool);
        Next(s, x, d, n, a, b, yb);
        if (yc != null)
        {
            Next(s, x, d, n, a, c, yc);
        }

        static void Next(Session s, float* x, int d, int n, QuantMatrix first, QuantMatrix m, float* y)
        {
            if (m.Activations != first.Activations || m.Quantizer.Name != first.Quantizer.Name)
            {
                // A different format than the first matrix: quantize again (the first's inputs are no longer needed).
                MatMul.QuantizeInputs(m, x, d, n, s.Quantized, s.Pool);
                MatMul.Multiply(m, s.Quantized, n, y, m.Rows, s.Pool);
                MatMul.QuantizeInputs(first, x, d, n, s.Quantized, s.Pool);
            }
            else
            {
                MatMul.Multiply(m, s.Quantized, n, y, m.Rows, s.Pool);
            }
        }
    }

    /// <summary>Adds <paramref name="bias"/> (if any) to each of <paramref name="n"/> rows of <paramref name="width"/>.</summary>
    internal static void AddBias(float* y, float* bias, int n, int width)
    {
        if (bias == null)
        {
            return;
        }

        var b = new ReadOnlySpan<float>(bias, width);
        for (var t = 0; t < n; t++)
        {
            var row = new Span<float>(y + ((long)t * width), width);
            TensorPrimitives.Add(row, b, row);
        }
    }

    private static void Residual(float* x, float* delta, int count) =>
        TensorPrimitives.Add(new ReadOnlySpan<float>(x, count), new ReadOnlySpan<float>(delta, count), new Span<float>(x, count));

    /// <summary>Writes one head's row at <paramref name="pos"/> into a cache laid out [kvHeads][capacity][headDim].</summary>
    private static void Store(KvCache cache, void* layer, int head, int pos, float* row)
    {
        var hd = cache.HeadDimension;
        var offset = (((long)head * cache.Capacity) + pos) * hd;
        var source = new ReadOnlySpan<float>(row, hd);
        if (cache.Type == KvCacheType.F16)
        {
            TensorPrimitives.ConvertToHalf(source, new Span<Half>((Half*)layer + offset, hd));
        }
        else
        {
            source.CopyTo(new Span<float>((float*)layer + offset, hd));
        }
    }
}
