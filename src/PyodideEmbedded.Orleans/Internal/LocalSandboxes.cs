using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Statistics;

namespace PyodideEmbedded.Orleans.Internal;

/// <summary>The silo's own sandboxes: its <see cref="SandboxPool"/>, and what it tells the cluster about them.</summary>
internal sealed partial class LocalSandboxes : IAsyncDisposable
{
    private readonly IEnvironmentStatisticsProvider? _statistics;
    private int _freshRuns;
    private int _sessions;

    public LocalSandboxes(
        PythonSandboxSiloOptions options, ILocalSiloDetails silo, IServiceProvider services, ILogger<LocalSandboxes> logger,
        IEnvironmentStatisticsProvider? statistics = null)
    {
        Options = options;
        Markers = SessionMarkers.Create(services, options, logger);
        if (Markers is null)
        {
            LogNoSessionStorage(logger);
        }

        SessionIdleTimeout = options.Pool.SessionIdleTimeout;
        // The grain ends idle sessions; the pool's own expiry is only a backstop behind it.
        Pool = new SandboxPool(options.Pool with
        {
            SessionIdleTimeout = options.Pool.SessionIdleTimeout + TimeSpan.FromMinutes(1),
            // The silo's logging and metrics, unless the options name their own (as the DI package does for a host).
            Sandbox = options.Pool.Sandbox with
            {
                LoggerFactory = options.Pool.Sandbox.LoggerFactory ?? services.GetService<ILoggerFactory>(),
                MeterFactory = options.Pool.Sandbox.MeterFactory ?? services.GetService<IMeterFactory>(),
            },
        });
        Silo = silo.SiloAddress;
        SiloName = silo.SiloAddress.ToParsableString();
        _statistics = statistics;
    }

    public PythonSandboxSiloOptions Options { get; }

    /// <summary>Where sessions are marked open, so that their loss reaches every caller; null without session storage.</summary>
    public SessionMarkers? Markers { get; }

    public SandboxPool Pool { get; }

    public SiloAddress Silo { get; }

    public string SiloName { get; }

    public TimeSpan SessionIdleTimeout { get; }

    public int FreshRuns => Volatile.Read(ref _freshRuns);

    public int Sessions => Volatile.Read(ref _sessions);

    public void SessionActivated() => Interlocked.Increment(ref _sessions);

    public void SessionDeactivated() => Interlocked.Decrement(ref _sessions);

    public FreshRun BeginFreshRun()
    {
        Interlocked.Increment(ref _freshRuns);
        return new FreshRun(this);
    }

    public SiloSandboxLoad GetLoad()
    {
        long available = -1;
        if (_statistics is not null)
        {
            var stats = _statistics.GetEnvironmentStatistics();
            available = stats.FilteredAvailableMemoryBytes;
        }

        return new SiloSandboxLoad
        {
            Silo = Silo,
            // Session activations (some may still be starting their sandbox) plus fresh runs in progress.
            InUse = Math.Max(Sessions, Pool.SessionCount) + FreshRuns,
            Ready = Pool.ReadyCount,
            MaxSandboxes = Pool.Options.MaxSandboxes,
            MemoryForMore = available < 0 || available >= Options.MemoryPerSandboxBytes * 2,
            ReportedAt = DateTime.UtcNow,
        };
    }

    public ValueTask DisposeAsync() => Pool.DisposeAsync();

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "No grain storage for Python sessions (PythonSandboxSiloOptions.SessionStorageName): a session lost with its silo is reported only to the SandboxCluster that used it, not to other or restarted clients")]
    private static partial void LogNoSessionStorage(ILogger logger);

    internal readonly struct FreshRun(LocalSandboxes owner) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref owner._freshRuns);
    }
}
