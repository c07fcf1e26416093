namespace PyodideEmbedded.Internal;

/// <summary>Why a pool session ended; it decides what the calls still inside it get.</summary>
internal enum SessionEnd
{
    /// <summary>Still open.</summary>
    None,

    /// <summary>Its sandbox was lost under a run: calls that were waiting their turn start over in a new session.</summary>
    Lost,

    /// <summary>Ended by <see cref="SandboxPool.EndSessionAsync"/>: the calls inside are stopped and told so.</summary>
    Ended,

    /// <summary>Unused for longer than the idle timeout (no call was inside).</summary>
    Expired,

    /// <summary>The pool was disposed (after the calls in progress ended).</summary>
    PoolDisposed,
}

/// <summary>
/// One session of a <see cref="SandboxPool"/>: its sandbox, the calls inside it, and its end. The sandbox is
/// released (<c>release</c>: back to the pool, reset, or disposed) once the session has ended and no call is inside,
/// by whoever leaves last (the one that ends it, or the last call out), so that nothing releases a sandbox while a
/// call is still queued on it.
/// </summary>
/// <remarks>Thread-safe.</remarks>
#pragma warning disable CA1001 // _stopCalls is disposed with the sandbox, by whoever closes the session (once)
internal sealed class PoolSession(PythonSandbox sandbox, Func<PythonSandbox, SessionEnd, ValueTask> release)
#pragma warning restore CA1001
{
    private readonly Lock _lock = new();
    // Cancelled when the session is ended by the pool's caller: stops the run in progress and the calls waiting
    // their turn, through the sandbox's own cancellation (the soft stop first, as for a caller's token).
    private readonly CancellationTokenSource _stopCalls = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _activeCalls;
    private long _lastUsed = Environment.TickCount64;
    private SessionEnd _end;

    public PythonSandbox Sandbox { get; } = sandbox;

    /// <summary>Cancelled when the calls inside must stop (<see cref="SessionEnd.Ended"/>). Read it only while inside.</summary>
    public CancellationToken StopCalls => _stopCalls.Token;

    public SessionEnd End
    {
        get
        {
            lock (_lock)
            {
                return _end;
            }
        }
    }

    /// <summary>Completes when the sandbox has been released (disposed, or handed back to the pool to be reset).</summary>
    public Task Closed => _closed.Task;

    /// <summary>Counts a call in; false once the session has ended (the caller opens a new one).</summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            if (_end != SessionEnd.None)
            {
                return false;
            }

            _activeCalls++;
            return true;
        }
    }

    /// <summary>Counts a call out; the last one out of an ended session disposes the sandbox.</summary>
    public ValueTask ExitAsync()
    {
        bool close;
        lock (_lock)
        {
            _activeCalls--;
            _lastUsed = Environment.TickCount64;
            close = _end != SessionEnd.None && _activeCalls == 0;
        }

        return close ? CloseAsync() : ValueTask.CompletedTask;
    }

    /// <summary>Ends the session for this reason, unless it has already ended (then false). The sandbox is
    /// disposed now if no call is inside, else when the last one leaves; <see cref="Closed"/> says when.</summary>
    public async ValueTask<bool> TryEndAsync(SessionEnd reason)
    {
        bool close, stop;
        lock (_lock)
        {
            if (_end != SessionEnd.None)
            {
                return false;
            }

            _end = reason;
            close = _activeCalls == 0;
            stop = reason == SessionEnd.Ended && !close;
            if (stop)
            {
                _activeCalls++; // counted in while it cancels, so that the last call out cannot close the session under it
            }
        }

        if (stop)
        {
            // Outside the lock: cancelling runs the sandbox's stop callbacks on this thread.
            await _stopCalls.CancelAsync().ConfigureAwait(false);
            await ExitAsync().ConfigureAwait(false);
        }
        else if (close)
        {
            await CloseAsync().ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Ends the session if no call is inside and it has been unused for <paramref name="idleTimeout"/>.</summary>
    public async ValueTask<bool> TryExpireAsync(TimeSpan idleTimeout)
    {
        lock (_lock)
        {
            if (_end != SessionEnd.None || _activeCalls > 0 || Environment.TickCount64 - _lastUsed < idleTimeout.TotalMilliseconds)
            {
                return false;
            }

            _end = SessionEnd.Expired;
        }

        await CloseAsync().ConfigureAwait(false);
        return true;
    }

    // Called once: by whoever saw the session ended with no call inside.
    private async ValueTask CloseAsync()
    {
        try
        {
            await release(Sandbox, End).ConfigureAwait(false);
        }
        finally
        {
            _stopCalls.Dispose();
            _closed.TrySetResult();
        }
    }
}
