using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// The instruments of the <c>PyodideEmbedded</c> meter. One set per <see cref="IMeterFactory"/> (DI gives each host
/// its own) and one process-wide set for sandboxes created without a factory.
/// </summary>
internal sealed class SandboxMetrics
{
    public const string MeterName = "PyodideEmbedded";

    private static readonly ConditionalWeakTable<IMeterFactory, SandboxMetrics> s_byFactory = [];
    private static readonly SandboxMetrics s_shared = new(new Meter(MeterName, ThisAssembly.Version));

    private SandboxMetrics(Meter meter)
    {
        Runs = meter.CreateCounter<long>("pyodide.runs", "{run}", "Runs of Python code, by outcome and the limit that ended them.");
        RunDuration = meter.CreateHistogram<double>("pyodide.run.duration", "s", "Wall-clock time of a run, without the wait for a sandbox.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        Limits = meter.CreateCounter<long>("pyodide.run.limits", "{run}", "Runs ended by a limit of the sandbox, by kind.");
        SandboxStarts = meter.CreateCounter<long>("pyodide.sandbox.starts", "{sandbox}", "Sandbox starts, by outcome.");
        StartDuration = meter.CreateHistogram<double>("pyodide.sandbox.start.duration", "s", "Time to start a sandbox (restore Pyodide, install packages).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30] });
        Resets = meter.CreateCounter<long>("pyodide.sandbox.resets", "{reset}", "Resets of a used sandbox, by kind: in_place (the isolate kept), new_isolate (replaced), discarded (a pool's fresh-run sandbox that could not be reset in place).");
        ResetDuration = meter.CreateHistogram<double>("pyodide.sandbox.reset.duration", "s", "Time to reset a used sandbox, by kind.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        PoolReady = meter.CreateUpDownCounter<long>("pyodide.pool.ready", "{sandbox}", "Started sandboxes waiting in pools.");
        PoolLive = meter.CreateUpDownCounter<long>("pyodide.pool.live", "{sandbox}", "Sandboxes alive in pools: ready, starting, in sessions, running or taken out.");
        HostCalls = meter.CreateCounter<long>("pyodide.host_function.calls", "{call}", "Calls from Python to granted host functions, by function and outcome.");
        HostCallDuration = meter.CreateHistogram<double>("pyodide.host_function.duration", "s", "Time a host function call held the run, by function.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        PoolWait = meter.CreateHistogram<double>("pyodide.pool.wait.duration", "s", "Time a call waited for a sandbox from a pool (ready, started for it, or freed).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
    }

    public Counter<long> Runs { get; }

    public Histogram<double> RunDuration { get; }

    public Counter<long> Limits { get; }

    public Counter<long> SandboxStarts { get; }

    public Histogram<double> StartDuration { get; }

    public Counter<long> Resets { get; }

    public Histogram<double> ResetDuration { get; }

    public UpDownCounter<long> PoolReady { get; }

    public UpDownCounter<long> PoolLive { get; }

    public Histogram<double> PoolWait { get; }

    public Counter<long> HostCalls { get; }

    public Histogram<double> HostCallDuration { get; }

    public static SandboxMetrics For(IMeterFactory? factory) =>
        factory is null ? s_shared : s_byFactory.GetValue(factory, static f => new SandboxMetrics(f.Create(new MeterOptions(MeterName) { Version = ThisAssembly.Version })));
}
