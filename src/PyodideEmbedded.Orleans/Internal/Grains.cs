using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace PyodideEmbedded.Orleans.Internal;

/// <summary>A session: one sandbox, with its state, on one silo. Keyed by the session id.</summary>
internal interface ISandboxSessionGrain : IGrainWithStringKey
{
    Task<SandboxRunResponse> RunAsync(SandboxRunRequest request, CancellationToken cancellationToken = default);

    /// <summary>Ends the session now (interleaved: it stops a run in progress, as <see cref="SandboxPool.EndSessionAsync"/> does).</summary>
    [AlwaysInterleave]
    Task<bool> EndAsync();

    /// <summary>The silo this activation runs on (for tests and diagnostics).</summary>
    [AlwaysInterleave]
    Task<string> GetSiloAsync();
}

/// <summary>Fresh runs: a stateless worker on the silo that receives the call, over that silo's pool.</summary>
internal interface ISandboxRunnerGrain : IGrainWithIntegerKey
{
    Task<SandboxRunResponse> RunAsync(SandboxRunRequest request, CancellationToken cancellationToken = default);
}

[SandboxPlacement]
internal sealed partial class SandboxSessionGrain(LocalSandboxes local, ILogger<SandboxSessionGrain> logger) : Grain, ISandboxSessionGrain
{
    // A new value per activation: a caller that talked to an earlier activation learns its state is gone.
    private readonly Guid _generation = Guid.NewGuid();
    private readonly GrainState<SessionMarker> _marker = new();
    private long _lastUsed = Stopwatch.GetTimestamp();
    private int _running;
    private bool _opened;
    private bool _ended;
    // The marker in grain storage says an earlier activation held this session open: its next call is told.
    private bool _lostBefore;

    private string SessionId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var idle = local.SessionIdleTimeout;
        var period = TimeSpan.FromTicks(Math.Clamp(idle.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks, TimeSpan.FromSeconds(30).Ticks));
        this.RegisterGrainTimer(CheckIdleAsync, new GrainTimerCreationOptions(period, period) { Interleave = true, KeepAlive = false });
        local.SessionActivated();
        if (local.Markers is { } markers)
        {
            _lostBefore = await markers.ReadAsync(this.GetGrainId(), _marker, _generation).ConfigureAwait(true);
        }
    }

    public async Task<SandboxRunResponse> RunAsync(SandboxRunRequest request, CancellationToken cancellationToken = default)
    {
        if (_lostBefore || (request.ExpectedGeneration is { } expected && expected != _generation))
        {
            // The session was open on an activation that is gone (its silo died or left, or it was ended), as grain
            // storage or the caller remembers: say so instead of running the code in a sandbox without the variables
            // it expects. Once: the next call opens a new sandbox.
            LogLostReported(logger, _lostBefore ? "session storage" : "the caller");
            _lostBefore = false;
            _opened = true;
            _lastUsed = Stopwatch.GetTimestamp();
            return Wire.Lost(
                "the session's sandbox was lost with its silo (stopped, failed or left the cluster) or the session was ended; the code was not run; the next call runs in a new sandbox",
                _generation, local.SiloName);
        }

        if (_ended)
        {
            return Wire.Lost("the session was ended before this run started", _generation, local.SiloName);
        }

        _opened = true;
        _running++;
        try
        {
            if (local.Markers is { } markers)
            {
                await markers.MarkOpenAsync(this.GetGrainId(), _marker, _generation, local.SiloName).ConfigureAwait(true);
            }

            var result = await local.Pool.RunInSessionAsync(SessionId, request.Code, Wire.ToInputs(request), cancellationToken).ConfigureAwait(true);
            return Wire.Fit(Wire.ToResponse(result, _generation, local.SiloName), local.Options.MaxMessageBytes);
        }
        finally
        {
            _running--;
            _lastUsed = Stopwatch.GetTimestamp();
        }
    }

    public async Task<bool> EndAsync()
    {
        var wasOpen = _opened && !_ended;
        _ended = true;
        await local.Pool.EndSessionAsync(SessionId).ConfigureAwait(true);
        DeactivateOnIdle();
        return wasOpen;
    }

    public Task<string> GetSiloAsync() => Task.FromResult(local.SiloName);

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        local.SessionDeactivated();
        // Ended: the caller chose to forget it, so the marker goes. Idle: nothing to report either, unless it holds a loss
        // not yet told. Any other end (the silo shutting down, an error) keeps it, and the session's next activation,
        // wherever it is, answers SandboxLost.
        if (local.Markers is { } markers
            && (_ended || (!_lostBefore && reason.ReasonCode is DeactivationReasonCode.ApplicationRequested or DeactivationReasonCode.ActivationIdle)))
        {
            await markers.ClearAsync(this.GetGrainId(), _marker).ConfigureAwait(true);
        }

        try
        {
            // Frees the sandbox whatever the reason: idle, ended, silo shutting down.
            await local.Pool.EndSessionAsync(SessionId).ConfigureAwait(true);
        }
        catch (ObjectDisposedException)
        {
            // the pool went first (host stopping): its sandboxes are freed with it
        }
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Information,
        Message = "A Python session's sandbox went with an earlier activation (the session was ended, or its silo stopped, failed or left), as {Source} remembers; the call was answered SandboxLost without running")]
    // No session id: ids are capabilities (SECURITY.md), and logs never hold them.
    private static partial void LogLostReported(ILogger logger, string source);

    private Task CheckIdleAsync(CancellationToken cancellationToken)
    {
        if (_running == 0 && Stopwatch.GetElapsedTime(_lastUsed) >= local.SessionIdleTimeout)
        {
            DeactivateOnIdle();
        }

        return Task.CompletedTask;
    }
}

// One reentrant worker per silo: the pool, not the grain, bounds how many runs go at once.
[StatelessWorker(1)]
[Reentrant]
internal sealed class SandboxRunnerGrain(LocalSandboxes local) : Grain, ISandboxRunnerGrain
{
    public async Task<SandboxRunResponse> RunAsync(SandboxRunRequest request, CancellationToken cancellationToken = default)
    {
        using var run = local.BeginFreshRun();
        var result = await local.Pool.RunAsync(request.Code, Wire.ToInputs(request), cancellationToken).ConfigureAwait(true);
        return Wire.Fit(Wire.ToResponse(result, Guid.Empty, local.SiloName), local.Options.MaxMessageBytes);
    }
}
