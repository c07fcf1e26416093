using BenchmarkDotNet.Attributes;

namespace PyodideEmbedded.Benchmarks;

internal static class Workloads
{
    public const string FourPlusFive = "4 + 5";
    public const string TenThousandList = "list(range(10_000))";
    public const string CpuBound = "sum(i*i for i in range(3_000_000))";

    public static SandboxOptions Options { get; } = new() { Timeout = TimeSpan.FromMinutes(2) };
}

/// <summary>
/// Warm targets for the same workload: our sandbox, or one peer process, started once per benchmark
/// (each benchmark method is set up only with what it uses, so a missing peer fails only its rows).
/// </summary>
public abstract class SideBySide
{
    protected PythonSandbox Sandbox { get; private set; } = null!;

    protected PeerProcess Peer { get; private set; } = null!;

    [GlobalSetup(Targets = ["Embedded"])]
    public void SetupEmbedded() => Sandbox = PythonSandbox.CreateAsync(Workloads.Options).GetAwaiter().GetResult();

    [GlobalSetup(Targets = ["Deno"])]
    public void SetupDeno() => Peer = PeerProcess.Start(Benchmarks.Peer.Deno);

    [GlobalSetup(Targets = ["Node"])]
    public void SetupNode() => Peer = PeerProcess.Start(Benchmarks.Peer.Node);

    [GlobalSetup(Targets = ["NativePython"])]
    public void SetupNative() => Peer = PeerProcess.Start(Benchmarks.Peer.NativePython);

    [GlobalCleanup]
    public void Cleanup()
    {
        Sandbox?.Dispose();
        Peer?.Dispose();
    }
}

/// <summary>
/// Create a sandbox and get the first <c>4 + 5</c> back, against spawning a Deno or Node runner and
/// getting its first reply. Our row is a sandbox after the first in the process (V8 and the verified
/// assets are already loaded); the first-in-process figure is measured by <c>--probe-cold</c>.
/// </summary>
[SlowJob]
[MemoryDiagnoser]
public class ColdStartBenchmark
{
    [Benchmark(Baseline = true)]
    public async Task<SandboxResult> Embedded()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Workloads.Options);
        return await sandbox.RunAsync(Workloads.FourPlusFive);
    }

    [Benchmark]
    public string Deno() => SpawnAndRun(Peer.Deno);

    [Benchmark]
    public string Node() => SpawnAndRun(Peer.Node);

    private static string SpawnAndRun(Peer peer)
    {
        using var process = PeerProcess.Start(peer);
        return process.Run(Workloads.FourPlusFive);
    }
}

/// <summary>
/// Taking a ready sandbox from a <see cref="SandboxPool"/> and getting the first <c>4 + 5</c> back: what a
/// request pays when the pool has a sandbox waiting. The take starts the pool's refill, which runs beside
/// that first run as it would in a service; each iteration then waits, unmeasured, until a sandbox is ready again.
/// </summary>
[SlowJob(quickIterations: 20, iterations: 50)]
[MedianColumn]
public class PoolTakeBenchmark
{
    private SandboxPool _pool = null!;
    private PythonSandbox? _taken;

    [GlobalSetup]
    public void Setup() => _pool = new SandboxPool(new SandboxPoolOptions { Sandbox = Workloads.Options, MinReady = 1, MaxSandboxes = 2 });

    [IterationSetup]
    public void WaitForReady() => _pool.WarmUpAsync().GetAwaiter().GetResult();

    [Benchmark]
    public async Task<SandboxResult> TakeAndRun()
    {
        _taken = await _pool.TakeAsync();
        return await _taken.RunAsync(Workloads.FourPlusFive);
    }

    [IterationCleanup]
    public void DisposeTaken() => _taken?.Dispose();

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}

/// <summary>
/// One warm call, boot excluded: host → sandbox → Python → result back, for a tiny value and for a
/// 10,000-element list. The peers' rows include their pipe round trip, which is their real cost.
/// </summary>
[FastJob]
[MemoryDiagnoser]
public class RoundTripBenchmark : SideBySide
{
    [Params(Workloads.FourPlusFive, Workloads.TenThousandList)]
    public string Code { get; set; } = "";

    [Benchmark(Baseline = true)]
    public Task<SandboxResult> Embedded() => Sandbox.RunAsync(Code);

    [Benchmark]
    public string Deno() => Peer.Run(Code);

    [Benchmark]
    public string Node() => Peer.Run(Code);
}

/// <summary>CPU-bound Python, <c>sum(i*i for i in range(3_000_000))</c>, with native CPython as the reference.</summary>
[SlowJob]
public class CpuBoundBenchmark : SideBySide
{
    [Benchmark(Baseline = true)]
    public Task<SandboxResult> Embedded() => Sandbox.RunAsync(Workloads.CpuBound);

    [Benchmark]
    public string Deno() => Peer.Run(Workloads.CpuBound);

    [Benchmark]
    public string Node() => Peer.Run(Workloads.CpuBound);

    [Benchmark]
    public string NativePython() => Peer.Run(Workloads.CpuBound);
}

/// <summary>
/// Time-limit precision: how long a run with a 100 ms limit takes to come back with its TimeoutError.
/// The overshoot is Mean − 100 ms. A Python loop is stopped by the soft interrupt (state kept); C-level
/// work that never checks signals by the hard one after the 30 ms grace (sandbox lost), so each
/// iteration gets a fresh sandbox. The peers have no equivalent: their time-outs never fire.
/// </summary>
[SlowJob]
public class TimeLimitBenchmark
{
    private static readonly SandboxOptions Options = new() { Timeout = TimeSpan.FromMilliseconds(100) };
    private PythonSandbox _sandbox = null!;

    [IterationSetup]
    public void Setup() => _sandbox = PythonSandbox.CreateAsync(Options).GetAwaiter().GetResult();

    [IterationCleanup]
    public void Cleanup() => _sandbox.Dispose();

    [Benchmark]
    public Task<SandboxResult> PythonLoop() => Expect(_sandbox.RunAsync("while True: pass"));

    [Benchmark]
    public Task<SandboxResult> CLevelWork() => Expect(_sandbox.RunAsync("sum(range(10**12))"));

    private static async Task<SandboxResult> Expect(Task<SandboxResult> run)
    {
        var result = await run;
        return result.TimedOut ? result : throw new InvalidOperationException("The run did not time out.");
    }
}

/// <summary>
/// Throughput: N sandboxes on N threads each run <c>sum(i*i for i in range(1_000_000))</c> at once.
/// Each sandbox runs it four times per iteration: runs per second = 4N / Mean; perfect scaling keeps Mean flat as N grows (up to the core count).
/// </summary>
[SlowJob]
public class ThroughputBenchmark
{
    private PythonSandbox[] _sandboxes = [];

    [Params(1, 2, 4)]
    public int Sandboxes { get; set; }

    private const string Workload = "sum(i*i for i in range(1_000_000))";

    [GlobalSetup]
    public void Setup()
    {
        _sandboxes = Task.WhenAll(Enumerable.Range(0, Sandboxes).Select(_ => PythonSandbox.CreateAsync(Workloads.Options))).GetAwaiter().GetResult();
        // Steady state: V8 compiles the hot wasm functions with its optimising tier on the running
        // thread (background threads are off), once per process; that belongs to warm-up, not to N.
        foreach (var sandbox in _sandboxes)
        {
            for (var i = 0; i < 3; i++)
            {
                sandbox.RunAsync(Workload).GetAwaiter().GetResult();
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var sandbox in _sandboxes)
        {
            sandbox.Dispose();
        }
    }

    // Each sandbox runs the workload this many times in a row per iteration: a batch lasts as long as
    // its slowest sandbox, and single runs vary by tens of ms here, so one run each would mostly
    // measure that variation.
    private const int RunsPerSandbox = 4;

    [Benchmark]
    public Task ParallelRuns() =>
        Task.WhenAll(_sandboxes.Select(async s =>
        {
            for (var i = 0; i < RunsPerSandbox; i++)
            {
                await s.RunAsync(Workload).ConfigureAwait(false);
            }
        }));
}

/// <summary>
/// A fresh interpreter per run in one isolate: <c>4 + 5</c>, then <see cref="PythonSandbox.ResetAsync"/> (in place), the
/// whole cycle of a pool's fresh run. Beside it, the run alone in a sandbox that is never reset, and the peers'
/// way to a fresh interpreter: a new process (<see cref="ColdStartBenchmark"/>, ~3 s).
/// </summary>
[FastJob]
[MedianColumn]
public class ResetBenchmark
{
    private PythonSandbox _sandbox = null!;

    [GlobalSetup]
    public void Setup() => _sandbox = PythonSandbox.CreateAsync(Workloads.Options).GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _sandbox.Dispose();

    [Benchmark(Baseline = true)]
    public Task<SandboxResult> WarmRunOnly() => _sandbox.RunAsync(Workloads.FourPlusFive);

    [Benchmark]
    public async Task<SandboxResult> RunThenReset()
    {
        var result = await _sandbox.RunAsync(Workloads.FourPlusFive);
        await _sandbox.ResetAsync();
        return result;
    }
}
