using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>Rows of floats that stress quantizers: every block of a row is drawn from one of several kinds.</summary>
internal static class Generators
{
    /// <summary>A row of <paramref name="blocks"/> blocks of <paramref name="blockSize"/> values.</summary>
    public static Gen<float[]> Row(int blockSize, int blocks) =>
        BlockGen(blockSize).ArrayOf(blocks).Select(bs => bs.SelectMany(b => b).ToArray());

    /// <summary>Rows of 1..<paramref name="maxBlocks"/> blocks.</summary>
    public static Gen<float[]> Rows(int blockSize, int maxBlocks) =>
        Gen.Choose(1, maxBlocks).SelectMany(n => Row(blockSize, n));

    /// <summary>
    /// Rows with the magnitudes of real weights and activations (1e-4 to 100): their quantized scales and
    /// every product stay finite, so a dot product has one right answer to compare kernels against.
    /// </summary>
    public static Gen<float[]> RealisticRow(int blockSize, int blocks) =>
        BlockGen(blockSize, Gen.Elements(1e-4f, 1e-2f, 0.1f, 1f, 3f, 10f, 100f), extremes: false).ArrayOf(blocks).Select(bs => bs.SelectMany(b => b).ToArray());

    private static Gen<float[]> BlockGen(int n) =>
        BlockGen(n, Gen.Elements(1e-38f, 1e-30f, 1e-10f, 1e-3f, 0.02f, 1f, 7f, 1e3f, 1e10f, 1e30f), extremes: true);

    private static Gen<float[]> BlockGen(int n, Gen<float> scale, bool extremes)
    {
        var gaussian = from s in scale
                       from seed in ArbMap.Default.GeneratorFor<int>()
                       select Gaussian(seed, n, s);
        var uniform = from s in scale
                      from seed in ArbMap.Default.GeneratorFor<int>()
                      select Uniform(seed, n, s);
        var zero = Gen.Constant(new float[n]);
        var constant = from v in Gen.Elements(1f, -1f, 0.5f, -3.25f, 1e-20f, 65504f) select Enumerable.Repeat(v, n).ToArray();
        var extremeValues = from seed in ArbMap.Default.GeneratorFor<int>()
                            select Pick(seed, n, [float.MaxValue, -float.MaxValue, 0f, 1f, -1f]);
        var denormals = from seed in ArbMap.Default.GeneratorFor<int>()
                        select Pick(seed, n, [float.Epsilon, -float.Epsilon, 1e-40f, -3e-39f, 1.1754942e-38f, 0f]);
        var spiky = from seed in ArbMap.Default.GeneratorFor<int>()
                    from s in scale
                    select Spiky(seed, n, s);
        return extremes
            ? Gen.Frequency((5, gaussian), (3, uniform), (1, zero), (1, constant), (1, extremeValues), (1, denormals), (2, spiky))
            : Gen.Frequency((5, gaussian), (3, uniform), (1, zero), (1, constant.Select(b => b.Select(v => Math.Clamp(v, -4f, 4f)).ToArray())), (2, spiky));
    }

    private static float[] Gaussian(int seed, int n, float scale)
    {
        var r = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble())) * scale)];
    }

    private static float[] Uniform(int seed, int n, float scale)
    {
        var r = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2) - 1) * scale)];
    }

    private static float[] Pick(int seed, int n, float[] values)
    {
        var r = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => values[r.Next(values.Length)])];
    }

    /// <summary>Mostly small values with a few large outliers (what real activations look like).</summary>
    private static float[] Spiky(int seed, int n, float scale)
    {
        var r = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() - 0.5) * (r.Next(10) == 0 ? 100 : 1)) * scale)];
    }
}
