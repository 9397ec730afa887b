using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>Q8_0 activation quantizer with portable vectors, equal to <see cref="Quantize"/> for every input without NaN.</summary>
public static unsafe partial class Q8_0
{
    /// <summary>
    /// Quantizes <paramref name="n"/> floats into Q8_0 blocks with 128-bit vectors. Rounding is C's roundf
    /// (halves away from zero) built from truncation and the exact fractional part; a block whose inverse
    /// scale is not finite (a subnormal maximum) is left to the scalar code, whose C conversions decide it.
    /// </summary>
    public static void QuantizeVector(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_0*)blocks;
        for (var i = 0; i < n / BlockQ8_0.Elements; i++, x += BlockQ8_0.Elements)
        {
            var m = Vector128.Max(
                Vector128.Max(Vector128.Max(Vector128.Abs(Vector128.Load(x)), Vector128.Abs(Vector128.Load(x + 4))),
                    Vector128.Max(Vector128.Abs(Vector128.Load(x + 8)), Vector128.Abs(Vector128.Load(x + 12)))),
                Vector128.Max(Vector128.Max(Vector128.Abs(Vector128.Load(x + 16)), Vector128.Abs(Vector128.Load(x + 20))),
                    Vector128.Max(Vector128.Abs(Vector128.Load(x + 24)), Vector128.Abs(Vector128.Load(x + 28)))));
            var amax = MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3]));
            var d = amax / 127;
            var id = d != 0 ? 1f / d : 0f;
            if (!float.IsFinite(id))
            {
                Quantize(x, y + i, BlockQ8_0.Elements);
                continue;
            }

            y[i].D = Fp16.FromFloat(d);
            var scale = Vector128.Create(id);
            var q = (sbyte*)y[i].Qs;
            for (var k = 0; k < 32; k += 16)
            {
                var r0 = RoundAwayFromZero(Vector128.Load(x + k) * scale);
                var r1 = RoundAwayFromZero(Vector128.Load(x + k + 4) * scale);
                var r2 = RoundAwayFromZero(Vector128.Load(x + k + 8) * scale);
                var r3 = RoundAwayFromZero(Vector128.Load(x + k + 12) * scale);
                var low = Vector128.Narrow(Vector128.ConvertToInt32(r0), Vector128.ConvertToInt32(r1));
                var high = Vector128.Narrow(Vector128.ConvertToInt32(r2), Vector128.ConvertToInt32(r3));
                Vector128.Narrow(low, high).Store(q + k);
            }
        }
    }

    /// <summary>roundf per lane: t = trunc(v); t + sign(v) where |v − t| ≥ ½ (v − t is exact for |v| &lt; 2^23).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> RoundAwayFromZero(Vector128<float> v)
    {
        var t = Vector128.Truncate(v);
        var up = Vector128.GreaterThanOrEqual(Vector128.Abs(v - t), Vector128.Create(0.5f));
        var step = Vector128.CopySign(Vector128.Create(1f), v) & up.AsSingle();
        return t + step;
    }
}
