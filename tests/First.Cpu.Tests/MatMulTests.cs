using First.Cpu.Kernels;
using First.Cpu.Quants;
using First.Gguf;
using FsCheck;
using FsCheck.Fluent;

namespace First.Cpu.Tests;

/// <summary>
/// The threaded products give, for every output, exactly what one call of the kernel gives. Runs alone:
/// the allocation test counts the bytes of the whole process.
/// </summary>
[Collection(nameof(IsolatedCollection))]
[Trait(TestTraits.Isa, TestTraits.Kernels)]
public sealed unsafe class MatMulTests
{
    public static TheoryData<GgmlType> WeightTypes() => [.. QuantFormats.All.Where(f => f.IsWeightFormat).Select(f => f.Type)];

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Every_output_is_the_kernel_dot_of_its_row_and_token(GgmlType type)
    {
        var format = QuantFormats.Get(type);
        var gen = from rows in Gen.Choose(1, 70)
                  from blocks in Gen.Choose(1, 4)
                  from tokens in Gen.Choose(1, 10)
                  from threads in Gen.Choose(1, 3)
                  from seed in ArbMap.Default.GeneratorFor<int>()
                  select new Case(rows, blocks * Math.Max(format.Info.BlockSize, 32), tokens, threads, seed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (rows, cols, tokens, threads, seed) = c;
            var (weights, inputs) = c.Operands(format);
            fixed (byte* qw = weights)
            {
                var m = new QuantMatrix(qw, type, rows, cols);
                m = m.WithKernel(m.Kernel); // row by row (the interleaved path has its own tests)
                var scratch = new byte[m.ActivationRowBytes * tokens];
                var y = new float[tokens * (rows + 3)];
                using var pool = new WorkerPool(threads);
                fixed (float* x = inputs)
                fixed (byte* s = scratch)
                fixed (float* py = y)
                {
                    MatMul.Multiply(m, x, cols, tokens, s, py, rows + 3, pool);
                    // Groups of four tokens go through the kernel's four-token form where it has one.
                    var grouped = m.Kernel.Dot4 != null ? tokens & ~3 : 0;
                    var four = stackalloc float[4];
                    for (var t = 0; t < tokens; t++)
                    {
                        for (var row = 0; row < rows; row++)
                        {
                            var w = qw + (row * m.RowBytes);
                            float expected;
                            if (t < grouped)
                            {
                                m.Kernel.Dot4(w, s + (t / 4 * 4 * m.ActivationRowBytes), m.ActivationRowBytes, cols, four);
                                expected = four[t % 4];
                            }
                            else
                            {
                                expected = m.Kernel.Dot(w, s + (t * m.ActivationRowBytes), cols);
                            }

                            Assert.Equal(expected, py[(t * (rows + 3)) + row]);
                        }
                    }
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void Splitting_covers_every_row_once(int count)
    {
        foreach (var rows in new[] { 1, 7, 8, 9, 63, 64, 65, 2048, 5632, 32000 })
        {
            var covered = new int[rows];
            for (var i = 0; i < count; i++)
            {
                var (start, end) = MatMul.Split(rows, i, count);
                for (var r = start; r < end; r++)
                {
                    covered[r]++;
                }
            }

            Assert.All(covered, c => Assert.Equal(1, c));
        }
    }

    public sealed record Case(int Rows, int Cols, int Tokens, int Threads, int Seed)
    {
        // A plain ToString: FsCheck's F# printing of a tuple argument threw under qemu on arm64.
        public override string ToString() => $"{Rows}x{Cols}, {Tokens} tokens, {Threads} threads, seed {Seed}";

        /// <summary>Random weights quantized row by row in <paramref name="format"/>, and random float inputs, from the seed.</summary>
        public (byte[] Weights, float[] Inputs) Operands(QuantFormat format)
        {
            var r = new Random(Seed);
            var weightsF = Enumerable.Range(0, Rows * Cols).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
            var inputs = Enumerable.Range(0, Tokens * Cols).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
            var weights = new byte[format.RowBytes(Cols) * Rows];
            fixed (float* pw = weightsF)
            fixed (byte* qw = weights)
            {
                for (var row = 0; row < Rows; row++)
                {
                    format.Quantize(pw + (row * Cols), qw + (row * format.RowBytes(Cols)), Cols);
                }
            }

            return (weights, inputs);
        }
    }

    [Fact]
    public void The_pool_allocates_nothing_per_run_and_runs_every_participant()
    {
        using var pool = new WorkerPool(3);
        var hits = new int[3];
        var warmRuns = 0;
        fixed (int* h = hits)
        {
            // Warm up past tiered compilation (its background rejit can allocate), which takes long under qemu.
            var warm = System.Diagnostics.Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < 1500 || warmRuns < 1000)
            {
                pool.Run(&Count, h);
                warmRuns++;
            }

            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < 10_000; i++)
            {
                pool.Run(&Count, h);
            }

            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.Equal(0, allocated);
        }

        Assert.All(hits, n => Assert.Equal(10_000 + warmRuns, n));
    }

    [Fact]
    public void An_exception_in_a_worker_reaches_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.Run(&ThrowOnWorker, null));
        var hits = new int[2];
        fixed (int* h = hits)
        {
            pool.Run(&Count, h);
        }

        Assert.Equal([1, 1], hits);
    }

    [Fact]
    public void Idle_workers_fall_asleep_and_wake_for_the_next_job()
    {
        using var pool = new WorkerPool(2);
        var hits = new int[2];
        fixed (int* h = hits)
        {
            pool.Run(&Count, h);
            Thread.Sleep(300); // past the spin time: the worker sleeps on the semaphore
            pool.Run(&Count, h);
        }

        Assert.Equal([2, 2], hits);
    }

    [Fact]
    public void Fresh_pools_never_lose_a_wakeup()
    {
        // Regression: with one semaphore shared by all workers, a worker that finished and slept again could
        // take the wake-up meant for one not yet scheduled, and Run waited forever (seen within ~2000 pools).
        var done = false;
        var runner = new Thread(() =>
        {
            var hits = new int[3];
            fixed (int* h = hits)
            {
                for (var i = 0; i < 3000; i++)
                {
                    using var pool = new WorkerPool(3);
                    if (i % 7 == 0)
                    {
                        Thread.Sleep(1); // let the workers fall asleep before the first job
                    }

                    pool.Run(&Count, h);
                }
            }

            done = true;
        });
        runner.Start();
        Assert.True(runner.Join(TimeSpan.FromSeconds(60)), "a WorkerPool.Run did not return");
        Assert.True(done);
    }

    private static void Count(void* context, int index, int count) => Interlocked.Increment(ref ((int*)context)[index]);

    private static void ThrowOnWorker(void* context, int index, int count)
    {
        if (index == 1)
        {
            throw new InvalidOperationException("worker failed");
        }
    }
}

/// <summary>Tests that measure the whole process (allocations, threads) run with nothing beside them.</summary>
[CollectionDefinition(nameof(IsolatedCollection), DisableParallelization = true)]
public sealed class IsolatedCollection;
