using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace First.Cpu.Kernels;

/// <summary>
/// Persistent threads that run one job at a time on every participant: the caller's thread is
/// participant 0, the pool's threads the others. A job is a function pointer and a context pointer,
/// so a call allocates nothing (no closures, no tasks). Idle workers spin for a short while, then
/// sleep; decode issues a few hundred jobs per token, and waking a sleeping thread costs more than
/// a job of a small matrix.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker spins before it sleeps.</summary>
    private static readonly long s_spinTicks = Stopwatch.Frequency / 5000; // 200 µs

    private readonly Thread[] _threads;

    // One wake signal and one "asleep" flag per worker (index 0, the caller, never sleeps here). A shared
    // semaphore is not enough: a fast worker, back to sleep before a slow one woke, could take its token.
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _asleep;
    private delegate*<void*, int, int, void> _work;
    private void* _context;
    private long _generation;
    private int _pending;
    private volatile bool _stopping;
    private Exception? _failure;

    /// <summary>A pool of <paramref name="threads"/> participants, the caller included (1: no extra thread).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _threads = new Thread[threads - 1];
        _wake = [.. Enumerable.Range(0, threads).Select(_ => new SemaphoreSlim(0))];
        _asleep = new int[threads];
        for (var i = 0; i < _threads.Length; i++)
        {
            var index = i + 1;
            _threads[i] = new Thread(() => Loop(index)) { IsBackground = true, Name = $"first-worker-{index}" };
            _threads[i].Start();
        }
    }

    /// <summary>Participants, the calling thread included.</summary>
    public int Threads { get; }

    /// <summary>Participant <paramref name="index"/>'s contiguous share [Start, End) of <paramref name="items"/> items split <paramref name="count"/> ways, sizes differing by at most one.</summary>
    public static (int Start, int End) Share(int items, int index, int count) =>
        ((int)((long)items * index / count), (int)((long)items * (index + 1) / count));

    /// <summary>
    /// Calls <c>work(context, index, Threads)</c> once for every index in 0..Threads−1, index 0 on this
    /// thread, and returns when all have returned. An exception thrown by any participant is rethrown here.
    /// Not reentrant: one job at a time.
    /// </summary>
    public void Run(delegate*<void*, int, int, void> work, void* context)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (Threads == 1)
        {
            work(context, 0, 1);
            return;
        }

        _work = work;
        _context = context;
        _failure = null;
        Volatile.Write(ref _pending, Threads - 1);
        Interlocked.Increment(ref _generation); // a full fence: the job is visible before the new generation
        WakeSleepers();

        try
        {
            work(context, 0, Threads);
        }
        finally
        {
            var spin = default(SpinWait);
            while (Volatile.Read(ref _pending) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }

        if (_failure is { } failure)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }
    }

    /// <summary>Stops the threads.</summary>
    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        Interlocked.Increment(ref _generation);
        WakeSleepers();
        foreach (var t in _threads)
        {
            t.Join();
        }

        foreach (var w in _wake)
        {
            w.Dispose();
        }
    }

    /// <summary>
    /// Releases every worker that announced it sleeps. Each flag is taken back with an exchange, so a
    /// worker gets at most one release per announcement, and only from its own semaphore.
    /// </summary>
    private void WakeSleepers()
    {
        for (var i = 1; i < Threads; i++)
        {
            if (Interlocked.Exchange(ref _asleep[i], 0) == 1)
            {
                _wake[i].Release();
            }
        }
    }

    private void Loop(int index)
    {
        long seen = 0;
        while (true)
        {
            var start = Stopwatch.GetTimestamp();
            var spin = default(SpinWait);
            while (Volatile.Read(ref _generation) == seen)
            {
                if (Stopwatch.GetTimestamp() - start < s_spinTicks)
                {
                    // SpinOnce yields the core now and then, so more participants than cores still progress.
                    spin.SpinOnce(sleep1Threshold: -1);
                    continue;
                }

                // Announce the sleep, then look again: Run bumps the generation before it reads the flags,
                // so either it sees ours and releases our semaphore, or we see its generation. A release
                // that finds us already awake leaves a count that only ends one later wait early.
                Interlocked.Exchange(ref _asleep[index], 1);
                if (Volatile.Read(ref _generation) == seen)
                {
                    _wake[index].Wait();
                }

                Interlocked.Exchange(ref _asleep[index], 0);
                start = Stopwatch.GetTimestamp();
            }

            seen = Volatile.Read(ref _generation);
            if (_stopping)
            {
                return;
            }

            try
            {
                _work(_context, index, Threads);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }
}
