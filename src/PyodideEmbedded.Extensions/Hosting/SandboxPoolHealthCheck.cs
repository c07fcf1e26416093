using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace PyodideEmbedded.Hosting;

/// <summary>Whether the pool can hand out sandboxes: see <c>AddPythonSandboxPool(IHealthChecksBuilder)</c>.</summary>
internal sealed class SandboxPoolHealthCheck(SandboxPool pool, PoolWarmUp warmUp) : IHealthCheck
{
    // How long a check waits for the pool's next round of starts when fewer than MinReady are ready.
    private static readonly TimeSpan s_probe = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var warming = warmUp.Completion;
        if (!warmUp.Started)
        {
            return HealthCheckResult.Degraded("the pool has not started warming up", data: Data());
        }

        if (!warming.IsCompleted)
        {
            return HealthCheckResult.Degraded("warming up: starting sandboxes", data: Data());
        }

        if (warming.IsFaulted)
        {
            return HealthCheckResult.Unhealthy("sandboxes fail to start", warming.Exception?.InnerException, Data());
        }

        if (pool.ReadyCount >= pool.Options.MinReady)
        {
            return HealthCheckResult.Healthy($"{pool.ReadyCount} ready", Data());
        }

        // Fewer ready than asked: the pool's next round of starts says whether they still start (its failure is
        // thrown here) or every place is in use (the wait times out).
        using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        probe.CancelAfter(s_probe);
        try
        {
            await pool.WarmUpAsync(probe.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"{pool.ReadyCount} ready", Data());
        }
        catch (SandboxException e)
        {
            return HealthCheckResult.Unhealthy("sandboxes fail to start", e, Data());
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Degraded("no sandbox is ready (all in use or starting)", data: Data());
        }
    }

    private Dictionary<string, object> Data() => new()
    {
        ["ready"] = pool.ReadyCount,
        ["sessions"] = pool.SessionCount,
        ["min_ready"] = pool.Options.MinReady,
    };
}
