namespace First.Cpu.Quants;

/// <summary>
/// What the K-quant reference quantizers share (ggml-quants.c): the scale/min searches and the 6-bit
/// packing of eight scales and eight mins into 12 bytes.
/// </summary>
internal static unsafe class KQuants
{
    /// <summary>ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// Scale j (0..7) and min j from the 12 packed bytes (get_scale_min_k4): j &lt; 4 in the low six bits
    /// of bytes j and j+4; j ≥ 4 as a nibble of byte j+4 plus the top two bits of bytes j−4 and j.
    /// </summary>
    public static void ScaleMin(int j, byte* q, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(q[j] & 63);
            min = (byte)(q[j + 4] & 63);
        }
        else
        {
            scale = (byte)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            min = (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }

    /// <summary>The inverse of <see cref="ScaleMin"/> for all eight pairs at once (as quantize_row_q4_K_ref packs them).</summary>
    public static void PackScaleMins(byte* scales, float* scaleValues, float* minValues, float maxScale, float maxMin)
    {
        var invScale = maxScale > 0 ? 63f / maxScale : 0f;
        var invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (var j = 0; j < 8; j++)
        {
            var ls = Math.Min((byte)63, unchecked((byte)CFloat.NearestInt(invScale * scaleValues[j])));
            var lm = Math.Min((byte)63, unchecked((byte)CFloat.NearestInt(invMin * minValues[j])));
            if (j < 4)
            {
                scales[j] = ls;
                scales[j + 4] = lm;
            }
            else
            {
                scales[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                scales[j - 4] |= (byte)((ls >> 4) << 6);
                scales[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    /// <summary>
    /// The part quantize_row_q4_K_ref and quantize_row_q5_K_ref share: for each of the eight groups of 32
    /// values, a scale and min searched by make_qkx2_quants, both quantized to six bits into the 12 packed
    /// bytes under the half super-scales d and dmin, then every value's level 0..nmax recomputed from the
    /// quantized scale and min.
    /// </summary>
    public static void QuantizeScaleMinGroups(float* x, int nmax, float rmin, int nstep, byte* packed, out ushort d, out ushort dmin, byte* levels)
    {
        var aux = stackalloc byte[32];
        var weights = stackalloc float[32];
        var mins = stackalloc float[8];
        var scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (var j = 0; j < 8; j++)
        {
            var g = x + (32 * j);
            var sumX2 = 0f;
            for (var l = 0; l < 32; l++) sumX2 += g[l] * g[l];
            var avX = MathF.Sqrt(sumX2 / 32);
            for (var l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(g[l]);
            scales[j] = MakeQkx2Quants(32, nmax, g, weights, levels + (32 * j), out mins[j], aux, rmin, 0.1f, nstep);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        PackScaleMins(packed, scales, mins, maxScale, maxMin);
        d = Fp16.FromFloat(maxScale / 63f);
        dmin = Fp16.FromFloat(maxMin / 63f);
        for (var j = 0; j < 8; j++)
        {
            ScaleMin(j, packed, out var sc, out var m);
            var dj = Fp16.ToFloat(d) * sc;
            if (dj == 0)
            {
                continue;
            }

            var dm = Fp16.ToFloat(dmin) * m;
            for (var l = 0; l < 32; l++)
            {
                levels[(32 * j) + l] = (byte)Math.Max(0, Math.Min(nmax, CFloat.NearestInt((x[(32 * j) + l] + dm) / dj)));
            }
        }
    }

    /// <summary>
    /// make_qkx2_quants: the scale and (negated) min of an asymmetric group of <paramref name="n"/> values
    /// with levels 0..nmax, minimising the weighted squared error over a small grid of scales.
    /// </summary>
    public static float MakeQkx2Quants(int n, int nmax, float* x, float* weights, byte* levels, out float theMin, byte* aux,
        float rmin, float rdelta, int nstep)
    {
        var min = x[0];
        var max = x[0];
        var sumW = weights[0];
        var sumX = sumW * x[0];
        for (var i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            var w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }

        if (min > 0) min = 0;
        if (max == min)
        {
            for (var i = 0; i < n; i++) levels[i] = 0;
            theMin = -min;
            return 0f;
        }

        var iscale = nmax / (max - min);
        var scale = 1 / iscale;
        var bestError = 0f;
        for (var i = 0; i < n; i++)
        {
            var l = CFloat.NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            var diff = (scale * levels[i]) + min - x[i];
            bestError += weights[i] * (diff * diff);
        }

        for (var step = 0; step <= nstep; step++)
        {
            iscale = (rmin + (rdelta * step) + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (var i = 0; i < n; i++)
            {
                var l = Math.Max(0, Math.Min(nmax, CFloat.NearestInt(iscale * (x[i] - min))));
                aux[i] = (byte)l;
                var w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[i];
            }

            var det = (sumW * sumL2) - (sumL * sumL);
            if (det > 0)
            {
                var thisScale = ((sumW * sumXl) - (sumX * sumL)) / det;
                var thisMin = ((sumL2 * sumX) - (sumL * sumXl)) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }

                var curError = 0f;
                for (var i = 0; i < n; i++)
                {
                    var diff = (thisScale * aux[i]) + thisMin - x[i];
                    curError += weights[i] * (diff * diff);
                }

                if (curError < bestError)
                {
                    for (var i = 0; i < n; i++) levels[i] = aux[i];
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }

        theMin = -min;
        return scale;
    }

    /// <summary>
    /// make_qx_quants with rmse_type 1 and no importance weights: the scale of a symmetric group with
    /// levels −nmax..nmax−1 (stored +nmax), trying 18 scales around nmax/max.
    /// </summary>
    public static float MakeQxQuants(int n, int nmax, float* x, sbyte* levels)
    {
        float max = 0, amax = 0;
        for (var i = 0; i < n; i++)
        {
            var ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }

        if (amax < GroupMaxEps)
        {
            for (var i = 0; i < n; i++) levels[i] = 0;
            return 0f;
        }

        var iscale = -nmax / max;
        float sumLx = 0, sumL2 = 0;
        for (var i = 0; i < n; i++)
        {
            var l = Math.Max(-nmax, Math.Min(nmax - 1, CFloat.NearestInt(iscale * x[i])));
            levels[i] = (sbyte)(l + nmax);
            var w = x[i] * x[i];
            sumLx += w * x[i] * l;
            sumL2 += w * l * l;
        }

        var scale = sumL2 != 0 ? sumLx / sumL2 : 0f;
        var best = scale * sumLx;
        for (var step = -9; step <= 9; step++)
        {
            if (step == 0)
            {
                continue;
            }

            iscale = -(nmax + (0.1f * step)) / max;
            sumLx = sumL2 = 0;
            for (var i = 0; i < n; i++)
            {
                var l = Math.Max(-nmax, Math.Min(nmax - 1, CFloat.NearestInt(iscale * x[i])));
                var w = x[i] * x[i];
                sumLx += w * x[i] * l;
                sumL2 += w * l * l;
            }

            if (sumL2 > 0 && sumLx * sumLx > best * sumL2)
            {
                for (var i = 0; i < n; i++)
                {
                    levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, CFloat.NearestInt(iscale * x[i]))));
                }

                scale = sumLx / sumL2;
                best = scale * sumLx;
            }
        }

        return scale;
    }
}
