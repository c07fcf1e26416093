using System.Collections.Concurrent;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded;

/// <summary>
/// Keeps started sandboxes ready, so that a request gets an interpreter in microseconds instead of
/// starting one. Two ways to use it: <see cref="RunAsync(string, CancellationToken)"/> runs each piece of code in a fresh sandbox
/// that is discarded afterwards (nothing survives between runs: the multi-tenant mode), and
/// <see cref="RunInSessionAsync(string, string, CancellationToken)"/> keeps one sandbox per session id, with its state, until the session
/// ends or stays idle for <see cref="SandboxPoolOptions.SessionIdleTimeout"/>.
/// </summary>
/// <remarks>
/// <para>Thread-safe. The pool starts sandboxes in the background, one at a time, to keep
/// <see cref="SandboxPoolOptions.MinReady"/> of them waiting; a sandbox that faults is discarded, never reused.
/// The refill that taking a sandbox sets off waits until that sandbox's first run ends (at most 250 ms), so
/// that the start does not compete with the run for the CPU.
/// A caller who finds none ready starts one itself, or waits while <see cref="SandboxPoolOptions.MaxSandboxes"/>
/// are alive.</para>
/// <para>Disposing the pool refuses new calls, waits for the calls in progress, then disposes the ready and
/// session sandboxes. Sandboxes handed out by <see cref="TakeAsync"/> belong to the caller.</para>
/// </remarks>
public sealed class SandboxPool : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);
    // Longest a refill waits for the first run of the sandbox whose take triggered it.
    private static readonly TimeSpan MaxRefillDeferral = TimeSpan.FromMilliseconds(250);

    private readonly SandboxPoolOptions _options;
    private readonly ConcurrentQueue<PythonSandbox> _ready = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<Session>>> _sessions = new(StringComparer.Ordinal);
    // One count per live sandbox: ready, starting, in a session, running or taken out.
    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _fillRequested = new(0, 1);
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _filler;
    private TaskCompletionSource _changed = NewSignal();
    private Task? _refillAfter;
    private Exception? _lastStartFailure;
    private int _operations;
    private int _disposed;

    /// <summary>Creates a pool and starts filling it in the background.</summary>
    /// <param name="options">Pool and sandbox settings; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public SandboxPool(SandboxPoolOptions? options = null)
    {
        options ??= new SandboxPoolOptions();
        options.Validate();
        _options = options;
        _slots = new SemaphoreSlim(options.MaxSandboxes, options.MaxSandboxes);
        _filler = Task.Run(FillAsync);
    }

    /// <summary>The options this pool was created with.</summary>
    public SandboxPoolOptions Options => _options;

    /// <summary>Sandboxes started and waiting to be used.</summary>
    public int ReadyCount => _ready.Count;

    /// <summary>Open sessions.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Waits until <see cref="SandboxPoolOptions.MinReady"/> sandboxes are ready.</summary>
    /// <exception cref="SandboxStartException">The pool failed to start a sandbox (assets, engine).</exception>
    /// <exception cref="SandboxAssetException">The asset folder failed verification.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task WarmUpAsync(CancellationToken cancellationToken = default)
    {
        using var operation = BeginOperation();
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (_ready.Count >= _options.MinReady)
            {
                return;
            }

            if (Volatile.Read(ref _lastStartFailure) is { } failure)
            {
                throw failure is SandboxException ? failure : new SandboxStartException("The pool failed to start a sandbox: " + failure.Message, failure);
            }

            ThrowIfDisposed();
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs code in a fresh sandbox, which is discarded afterwards.</summary>
    /// <param name="code">Python source.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run (see <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>).</param>
    /// <returns>The run's result, as from <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<SandboxResult> RunAsync(string code, CancellationToken cancellationToken = default) => RunAsync(code, null, cancellationToken);

    /// <summary>Runs code with data (globals, files in and out) in a fresh sandbox, which is discarded afterwards.</summary>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">The data, as for <see cref="PythonSandbox.RunAsync(string, RunInputs?, CancellationToken)"/>; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run.</param>
    /// <returns>The run's result, with the files read back.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ArgumentException">A global or a file path in <paramref name="inputs"/> is not allowed.</exception>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<SandboxResult> RunAsync(string code, RunInputs? inputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        using var operation = BeginOperation();
        var run = PreparedRun.Create(code, inputs, _options.Sandbox);
        if (run.Refused is { } refused)
        {
            return refused;
        }

        var sandbox = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await sandbox.RunAsync(run, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs code in the session's sandbox, opening the session (from a ready sandbox) if needed.</summary>
    /// <param name="sessionId">Any non-empty string chosen by the caller, such as a user or conversation id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run (see <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>).</param>
    /// <returns>The run's result. When it says <see cref="SandboxResult.SandboxLost"/>, the session was ended
    /// with its sandbox, and the next call opens a new one with fresh state.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<SandboxResult> RunInSessionAsync(string sessionId, string code, CancellationToken cancellationToken = default) =>
        RunInSessionAsync(sessionId, code, null, cancellationToken);

    /// <summary>Runs code with data (globals, files in and out) in the session's sandbox, opening the session if needed.</summary>
    /// <param name="sessionId">Any non-empty string chosen by the caller, such as a user or conversation id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">The data, as for <see cref="PythonSandbox.RunAsync(string, RunInputs?, CancellationToken)"/>; <see langword="null"/> for none.
    /// Files written stay in the session's sandbox.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run.</param>
    /// <returns>The run's result, with the files read back.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty, or a global or a file path in
    /// <paramref name="inputs"/> is not allowed.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<SandboxResult> RunInSessionAsync(string sessionId, string code, RunInputs? inputs, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        ArgumentNullException.ThrowIfNull(code);
        using var operation = BeginOperation();
        var run = PreparedRun.Create(code, inputs, _options.Sandbox);
        if (run.Refused is { } refused)
        {
            return refused;
        }

        while (true)
        {
            var session = await OpenSessionAsync(sessionId, cancellationToken).ConfigureAwait(false);
            if (!session.TryEnter())
            {
                continue; // ended (expired) between the lookup and now: open a new one
            }

            try
            {
                var result = await session.Sandbox.RunAsync(run, cancellationToken).ConfigureAwait(false);
                if (session.Sandbox.IsFaulted)
                {
                    EndSession(sessionId, session);
                }

                return result;
            }
            catch (Exception e) when (e is SandboxFaultedException or ObjectDisposedException && session.Ended)
            {
                continue; // ended by EndSession or expiry while this call waited its turn
            }
            finally
            {
                session.Exit();
            }
        }
    }

    /// <summary>Ends a session and disposes its sandbox (stopping a run in progress).</summary>
    /// <returns>Whether the session was open.</returns>
    public bool EndSession(string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        if (!_sessions.TryGetValue(sessionId, out var lazy))
        {
            return false;
        }

        if (lazy.Value.IsCompletedSuccessfully)
        {
            return EndSession(sessionId, lazy.Value.Result);
        }

        return _sessions.TryRemove(new KeyValuePair<string, Lazy<Task<Session>>>(sessionId, lazy));
    }

    /// <summary>Takes a ready sandbox out of the pool (starting one if none is ready). The caller owns it.</summary>
    /// <returns>A sandbox that has run no user code. Disposing it frees its place in the pool.</returns>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<PythonSandbox> TakeAsync(CancellationToken cancellationToken = default)
    {
        using var operation = BeginOperation();
        return await AcquireAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<PythonSandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ThrowIfDisposed();
            var changed = Volatile.Read(ref _changed).Task;
            if (_ready.TryDequeue(out var sandbox))
            {
                // Starting a sandbox takes a core for ~0.5 s; started now, it would slow the first
                // run of the one just taken, which is what the caller is waiting for.
                RequestFill(after: sandbox.FirstCallEnded);
                if (!sandbox.IsFaulted)
                {
                    return sandbox;
                }

                await sandbox.DisposeAsync().ConfigureAwait(false);
                continue;
            }

            if (_slots.Wait(0, CancellationToken.None))
            {
                try
                {
                    return await StartSandboxAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    RequestFill();
                }
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Takes ownership of one slot: released when the sandbox is disposed, or now if it fails to start.
    private async Task<PythonSandbox> StartSandboxAsync(CancellationToken cancellationToken)
    {
        try
        {
            var sandbox = await PythonSandbox.CreateAsync(_options.Sandbox, cancellationToken).ConfigureAwait(false);
            sandbox.Released = ReleaseSlot;
            return sandbox;
        }
        catch
        {
            ReleaseSlot();
            throw;
        }
    }

    private void ReleaseSlot()
    {
        _slots.Release();
        SignalChanged();
        RequestFill();
    }

    private Task<Session> OpenSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        var lazy = _sessions.GetOrAdd(sessionId, _ => new Lazy<Task<Session>>(StartSessionAsync));
        return AwaitSessionAsync(sessionId, lazy, cancellationToken);
    }

    private async Task<Session> AwaitSessionAsync(string sessionId, Lazy<Task<Session>> lazy, CancellationToken cancellationToken)
    {
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted || lazy.Value.IsCanceled)
        {
            // A failed start is not remembered: the next call tries again.
            _sessions.TryRemove(new KeyValuePair<string, Lazy<Task<Session>>>(sessionId, lazy));
            throw;
        }
    }

    // Not tied to one caller's token: other calls for the same session may be waiting on it.
    private async Task<Session> StartSessionAsync()
    {
        var sandbox = await AcquireAsync(_disposing.Token).ConfigureAwait(false);
        return new Session(sandbox);
    }

    private bool EndSession(string sessionId, Session session)
    {
        if (!_sessions.TryGetValue(sessionId, out var lazy) || !lazy.Value.IsCompletedSuccessfully || lazy.Value.Result != session)
        {
            return false;
        }

        session.End();
        var removed = _sessions.TryRemove(new KeyValuePair<string, Lazy<Task<Session>>>(sessionId, lazy));
        session.Sandbox.Dispose();
        return removed;
    }

    private void ExpireIdleSessions()
    {
        foreach (var (sessionId, lazy) in _sessions)
        {
            if (lazy.Value.IsCompletedSuccessfully && lazy.Value.Result is var session && session.TryExpire(_options.SessionIdleTimeout))
            {
                _sessions.TryRemove(new KeyValuePair<string, Lazy<Task<Session>>>(sessionId, lazy));
                session.Sandbox.Dispose();
            }
        }
    }

    // The background loop: keeps MinReady sandboxes ready and expires idle sessions.
    private async Task FillAsync()
    {
        var failures = 0;
        var sweepInterval = TimeSpan.FromTicks(Math.Clamp(_options.SessionIdleTimeout.Ticks / 4, TimeSpan.TicksPerSecond / 4, TimeSpan.TicksPerMinute));
        while (!_disposing.IsCancellationRequested)
        {
            ExpireIdleSessions();
            while (_ready.Count < _options.MinReady && !_disposing.IsCancellationRequested && _slots.Wait(0, CancellationToken.None))
            {
                try
                {
                    if (Interlocked.Exchange(ref _refillAfter, null) is { } after)
                    {
                        await Task.WhenAny(after, Task.Delay(MaxRefillDeferral, _disposing.Token)).ConfigureAwait(false);
                    }

                    _ready.Enqueue(await StartSandboxAsync(_disposing.Token).ConfigureAwait(false));
                    failures = 0;
                    Volatile.Write(ref _lastStartFailure, null);
                }
                catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // the loop must survive any failure; it is reported through WarmUpAsync
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures++;
                    Volatile.Write(ref _lastStartFailure, e);
                    break;
                }
                finally
                {
                    SignalChanged();
                }
            }

            var wait = failures == 0 ? sweepInterval
                : TimeSpan.FromMilliseconds(Math.Min(MaxRetryDelay.TotalMilliseconds, 250 * Math.Pow(2, failures)));
            try
            {
                await _fillRequested.WaitAsync(wait, _disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void RequestFill(Task? after = null)
    {
        Volatile.Write(ref _refillAfter, after);
        if (_fillRequested.CurrentCount == 0)
        {
            try
            {
                _fillRequested.Release();
            }
            catch (SemaphoreFullException)
            {
                // another caller asked at the same moment
            }
        }
    }

    private void SignalChanged() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Operation BeginOperation()
    {
        Interlocked.Increment(ref _operations);
        if (Volatile.Read(ref _disposed) != 0)
        {
            EndOperation();
            ThrowIfDisposed();
        }

        return new Operation(this);
    }

    private void EndOperation()
    {
        if (Interlocked.Decrement(ref _operations) == 0 && Volatile.Read(ref _disposed) != 0)
        {
            _drained.TrySetResult();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Refuses new calls, waits for the calls in progress, then disposes every sandbox the pool holds.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        SignalChanged(); // wakes callers waiting for a sandbox: they see the pool disposed
        if (Volatile.Read(ref _operations) == 0)
        {
            _drained.TrySetResult();
        }

        await _filler.ConfigureAwait(false);
        await _drained.Task.ConfigureAwait(false);
        while (_ready.TryDequeue(out var sandbox))
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var (_, lazy) in _sessions)
        {
            if (lazy.Value.IsCompletedSuccessfully)
            {
                lazy.Value.Result.End();
                await lazy.Value.Result.Sandbox.DisposeAsync().ConfigureAwait(false);
            }
        }

        _sessions.Clear();
        _disposing.Dispose();
    }

    /// <summary>Same as <see cref="DisposeAsync"/>, blocking the calling thread until done.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private readonly struct Operation(SandboxPool pool) : IDisposable
    {
        public void Dispose() => pool.EndOperation();
    }

    private sealed class Session(PythonSandbox sandbox)
    {
        private readonly Lock _lock = new();
        private int _activeCalls;
        private long _lastUsed = Environment.TickCount64;

        public PythonSandbox Sandbox { get; } = sandbox;

        public bool Ended { get; private set; }

        public bool TryEnter()
        {
            lock (_lock)
            {
                if (Ended)
                {
                    return false;
                }

                _activeCalls++;
                return true;
            }
        }

        public void Exit()
        {
            lock (_lock)
            {
                _activeCalls--;
                _lastUsed = Environment.TickCount64;
            }
        }

        public void End()
        {
            lock (_lock)
            {
                Ended = true;
            }
        }

        public bool TryExpire(TimeSpan idleTimeout)
        {
            lock (_lock)
            {
                if (Ended || _activeCalls > 0 || Environment.TickCount64 - _lastUsed < idleTimeout.TotalMilliseconds)
                {
                    return false;
                }

                Ended = true;
                return true;
            }
        }
    }
}
