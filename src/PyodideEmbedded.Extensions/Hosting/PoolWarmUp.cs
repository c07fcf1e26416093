using Microsoft.Extensions.Hosting;

namespace PyodideEmbedded.Hosting;

/// <summary>Starts filling the pool when the host starts, without delaying the start; the health check reads the outcome.
/// The pool itself is a singleton that the host's container disposes.</summary>
internal sealed class PoolWarmUp(SandboxPool pool) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The warm-up; faulted when sandboxes could not start (assets, engine).</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    public bool Started { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Completion = pool.WarmUpAsync(_stopping.Token);
        Started = true;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _stopping.CancelAsync();

    public void Dispose() => _stopping.Dispose();
}
