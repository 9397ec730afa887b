using System.Runtime.Intrinsics;

namespace First.Cpu.Quants;

/// <summary>
/// The Q8_0 activation quantizer of llama.cpp's x86 builds (which differs from the reference <see cref="Quantize"/>),
/// scalar and with portable vectors.
/// </summary>
public static unsafe partial class Q8_0
{
    /// <summary>
    /// Quantizes <paramref name="n"/> floats as llama.cpp's x86 builds do before a Q4_0/Q8_0 product
    /// (quantize_row_q8_0 in ggml-cpu/arch/x86/quants.c, and ggml_quantize_mat_q8_0_4x8 of the repacked path):
    /// d = amax / 127 as the reference does, but the multiplier is 127 / amax (not 1 / d, which can differ in
    /// the last bit) and x · (127 / amax) is rounded half to even (_mm256_round_ps), not away from zero.
    /// Conversion as vcvtps2dq and the saturating packs: a rounded value outside int32 (±∞, NaN, or a product
    /// with the infinite multiplier of a subnormal block) becomes int.MinValue and then −128.
    /// </summary>
    public static void QuantizeRuntime(float* x, void* blocks, int n)
    {
        var y = (BlockQ8_0*)blocks;
        for (var i = 0; i < n / BlockQ8_0.Elements; i++, x += BlockQ8_0.Elements)
        {
            var amax = 0f;
            for (var j = 0; j < 32; j++)
            {
                var a = MathF.Abs(x[j]);
                amax = amax > a ? amax : a;
            }

            y[i].D = Fp16.FromFloat(amax / 127);
            var id = amax != 0 ? 127f / amax : 0f;
            for (var j = 0; j < 32; j++)
            {
                var r = MathF.Round(x[j] * id, MidpointRounding.ToEven);
                y[i].Qs[j] = r is >= -2147483648f and < 2147483648f ? (sbyte)Math.Clamp((int)r, sbyte.MinValue, sbyte.MaxValue) : sbyte.MinValue;
            }
        }
    }

    /// <summary>The bytes of <see cref="QuantizeRuntime"/> with 128-bit vectors; blocks whose multiplier is not finite (zero, subnormal or non-finite maxima) go to the scalar code.</summary>
    public static void QuantizeRuntimeVector(float* x, void* blocks, int n)
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
            if (!float.IsFinite(127f / amax))
            {
                QuantizeRuntime(x, y + i, BlockQ8_0.Elements);
                continue;
            }

            y[i].D = Fp16.FromFloat(amax / 127);
            var scale = Vector128.Create(127f / amax);
            var q = (sbyte*)y[i].Qs;
            for (var k = 0; k < 32; k += 16)
            {
                var r0 = Vector128.Round(Vector128.Load(x + k) * scale);
                var r1 = Vector128.Round(Vector128.Load(x + k + 4) * scale);
                var r2 = Vector128.Round(Vector128.Load(x + k + 8) * scale);
                var r3 = Vector128.Round(Vector128.Load(x + k + 12) * scale);
                var low = Vector128.Narrow(Vector128.ConvertToInt32(r0), Vector128.ConvertToInt32(r1));
                var high = Vector128.Narrow(Vector128.ConvertToInt32(r2), Vector128.ConvertToInt32(r3));
                Vector128.Narrow(low, high).Store(q + k);
            }
        }
    }
}
