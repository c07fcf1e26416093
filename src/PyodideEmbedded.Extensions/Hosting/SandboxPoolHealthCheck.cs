using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace PyodideEmbedded.Hosting;

/// <summary>Whether the pool can hand out sandboxes: see <c>AddPythonSandboxPool(IHealthChecksBuilder)</c>.</summary>
internal sealed class SandboxPoolHealthCheck(SandboxPool pool, PoolWarmUp warmUp) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["ready"] = pool.ReadyCount,
            ["sessions"] = pool.SessionCount,
            ["min_ready"] = pool.Options.MinReady,
        };
        var warming = warmUp.Completion;
        var result = !warmUp.Started ? HealthCheckResult.Degraded("the pool has not started warming up", data: data)
            : warming.IsFaulted ? HealthCheckResult.Unhealthy("sandboxes fail to start", warming.Exception?.InnerException, data)
            : !warming.IsCompleted ? HealthCheckResult.Degraded("warming up: starting sandboxes", data: data)
            : pool.ReadyCount == 0 && pool.Options.MinReady > 0 ? HealthCheckResult.Degraded("no sandbox is ready (all in use or starting)", data: data)
            : HealthCheckResult.Healthy($"{pool.ReadyCount} ready", data);
        return Task.FromResult(result);
    }
}
