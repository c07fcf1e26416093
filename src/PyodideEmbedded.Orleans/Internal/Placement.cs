using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace PyodideEmbedded.Orleans.Internal;

/// <summary>One silo's sandboxes, as it last reported them.</summary>
[GenerateSerializer, Immutable]
internal sealed record SiloSandboxLoad
{
    [Id(0)] public required SiloAddress Silo { get; init; }

    /// <summary>Sandboxes held by sessions and fresh runs.</summary>
    [Id(1)] public int InUse { get; init; }

    [Id(2)] public int Ready { get; init; }

    [Id(3)] public int MaxSandboxes { get; init; }

    /// <summary>Whether the machine has memory for at least two more sandboxes.</summary>
    [Id(4)] public bool MemoryForMore { get; init; }

    [Id(5)] public DateTime ReportedAt { get; init; }
}

/// <summary>Places sessions on the silo with sandboxes to spare (see <see cref="SandboxPlacementDirector"/>).</summary>
[GenerateSerializer, Immutable]
internal sealed class SandboxPlacementStrategy : PlacementStrategy
{
    public static readonly SandboxPlacementStrategy Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class SandboxPlacementAttribute : PlacementAttribute
{
    public SandboxPlacementAttribute()
        : base(SandboxPlacementStrategy.Instance)
    {
    }
}

/// <summary>The cluster's sandbox loads: every silo reports its own here and reads everyone's back. Entries older
/// than a few report intervals are dropped (a silo that is gone stops reporting).</summary>
internal interface ISandboxLoadBoardGrain : IGrainWithIntegerKey
{
    Task<SiloSandboxLoad[]> ReportAsync(SiloSandboxLoad load, TimeSpan maxAge);
}

internal sealed class SandboxLoadBoardGrain : Grain, ISandboxLoadBoardGrain
{
    private readonly Dictionary<SiloAddress, SiloSandboxLoad> _loads = [];

    public Task<SiloSandboxLoad[]> ReportAsync(SiloSandboxLoad load, TimeSpan maxAge)
    {
        var now = DateTime.UtcNow;
        _loads[load.Silo] = load with { ReportedAt = now };
        foreach (var stale in _loads.Values.Where(l => now - l.ReportedAt > maxAge).ToList())
        {
            _loads.Remove(stale.Silo);
        }

        return Task.FromResult(_loads.Values.ToArray());
    }
}

/// <summary>What this silo knows of the others' sandboxes (refreshed every report interval), plus the sessions it
/// placed since, so that a burst of new sessions does not all land on the silo that looked emptiest.</summary>
internal sealed class SandboxLoadCache(PythonSandboxSiloOptions options)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<SiloAddress, List<long>> _placed = [];
    private Dictionary<SiloAddress, SiloSandboxLoad> _loads = [];

    public void Update(IEnumerable<SiloSandboxLoad> loads)
    {
        var map = loads.ToDictionary(l => l.Silo);
        lock (_lock)
        {
            _loads = map;
        }
    }

    public SiloAddress Choose(SiloAddress[] silos)
    {
        if (silos.Length == 0)
        {
            throw new SiloUnavailableException("No silo is available to place a Python session on.");
        }

        var now = Environment.TickCount64;
        var recent = (long)(options.LoadReportInterval.TotalMilliseconds * 2) + 100;
        lock (_lock)
        {
            SiloAddress? best = null;
            (int, int, int, int) bestScore = default;
            foreach (var silo in silos)
            {
                var placed = 0;
                if (_placed.TryGetValue(silo, out var times))
                {
                    times.RemoveAll(t => now - t > recent);
                    placed = times.Count;
                }

                var load = _loads.GetValueOrDefault(silo);
                var max = load?.MaxSandboxes ?? options.Pool.MaxSandboxes;
                var inUse = (load?.InUse ?? 0) + placed;
                var free = max - inUse;
                var ready = (load?.Ready ?? 0) - placed;
                var hasRoom = free > 0 && (load?.MemoryForMore ?? true) ? 1 : 0;
                // Room first (a silo at MaxSandboxes, or short of memory, takes no new session while another has room),
                // then a ready sandbox (no start on the first call), then the most room; ties at random.
                var score = (hasRoom, ready > 0 ? 1 : 0, free, Random.Shared.Next());
                if (best is null || score.CompareTo(bestScore) > 0)
                {
                    best = silo;
                    bestScore = score;
                }
            }

            if (!_placed.TryGetValue(best!, out var list))
            {
                _placed[best!] = list = [];
            }

            list.Add(now);
            return best!;
        }
    }
}

internal sealed class SandboxPlacementDirector(SandboxLoadCache cache) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context) =>
        Task.FromResult(cache.Choose(context.GetCompatibleSilos(target)));
}

/// <summary>Reports this silo's load to the board and refreshes the cache, every <see cref="PythonSandboxSiloOptions.LoadReportInterval"/>
/// while the silo is active; warms the pool when the silo starts.</summary>
internal sealed partial class SandboxLoadReporter(
    LocalSandboxes local, SandboxLoadCache cache, IGrainFactory grains, ILogger<SandboxLoadReporter> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public void Dispose() => _stopping.Dispose();

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SandboxLoadReporter), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        // Reports start at once (the others learn of this silo while it warms up), beside the warm-up.
        _loop = Task.WhenAll(
            Task.Run(() => WarmUpAsync(_stopping.Token), CancellationToken.None),
            Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None));
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task WarmUpAsync(CancellationToken stopping)
    {
        if (!local.Options.WarmUp)
        {
            return;
        }

        try
        {
            await local.Pool.WarmUpAsync(stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // a start failure is the pool's to report on the first run; the silo keeps going
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogWarmUpFailed(logger, e);
        }
    }

    private async Task LoopAsync(CancellationToken stopping)
    {
        var board = grains.GetGrain<ISandboxLoadBoardGrain>(0);
        var maxAge = local.Options.LoadReportInterval * 4;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                cache.Update(await board.ReportAsync(local.GetLoad(), maxAge).WaitAsync(stopping).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // the board may be moving (its silo left): try again at the next tick
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogReportFailed(logger, e);
            }

            try
            {
                await Task.Delay(local.Options.LoadReportInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Python sandboxes could not be warmed up")]
    private static partial void LogWarmUpFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "The sandbox load report failed; retrying at the next interval")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
