using System.Diagnostics;
using System.Threading.Channels;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded;

/// <summary>
/// Keeps started sandboxes ready, so that a request gets an interpreter in microseconds instead of
/// starting one. Two ways to use it: <see cref="RunAsync(string, CancellationToken)"/> runs each piece of code in a fresh
/// interpreter (nothing survives between runs: the multi-tenant mode; the sandbox is reset afterwards, see
/// <see cref="PythonSandbox.ResetAsync"/>, or discarded when it cannot be reset in place), and
/// <see cref="RunInSessionAsync(string, string, CancellationToken)"/> keeps one sandbox per session id, with its state, until the session
/// ends (<see cref="EndSessionAsync"/>) or stays idle for <see cref="SandboxPoolOptions.SessionIdleTimeout"/>; its
/// sandbox is then reset in place for the next caller, as after a fresh run.
/// </summary>
/// <remarks>
/// <para>Thread-safe. The pool starts sandboxes in the background, one at a time, to keep
/// <see cref="SandboxPoolOptions.MinReady"/> of them waiting; a sandbox that faults is discarded, never reused.
/// The refill that taking a sandbox sets off waits until that sandbox's first run ends (at most 250 ms), so
/// that the start does not compete with the run for the CPU.
/// A caller who finds none ready starts one itself, or waits while <see cref="SandboxPoolOptions.MaxSandboxes"/>
/// are alive.</para>
/// <para>Creating a pool starts nothing (it only checks the options): the background filling begins with the
/// pool's first call. Call <see cref="WarmUpAsync"/> at start-up to have the ready sandboxes waiting before the
/// first request, and to learn there whether sandboxes can start at all.</para>
/// <para><see cref="DisposeAsync"/> refuses new calls, waits for the calls in progress, then disposes the ready and
/// session sandboxes. <see cref="Dispose"/> does not wait for anything: it refuses new calls and disposes the ready
/// sandboxes before it returns; the calls in progress finish, and the session sandboxes are disposed in the
/// background once they have (at once when there are none). It does not block its thread on them: a call in progress
/// may take up to its time limit, and a thread blocked on async work can deadlock a caller that has a synchronization
/// context. Prefer <see cref="DisposeAsync"/>, which returns when everything is freed. Sandboxes handed out by <see cref="TakeAsync"/> belong to the caller.</para>
/// </remarks>
public sealed class SandboxPool : ISandboxRunner, IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);
    // Longest a refill waits for the first run of the sandbox whose take triggered it.
    private static readonly TimeSpan MaxRefillDeferral = TimeSpan.FromMilliseconds(250);

    private readonly SandboxPoolOptions _options;
    private readonly SandboxTelemetry _telemetry;
    private readonly Channel<PythonSandbox> _ready = Channel.CreateUnbounded<PythonSandbox>();
    // One item per free place. A sandbox starts only after taking one, and gives it back when disposed: the free
    // places and the live sandboxes (ready, starting, in a session, running or taken out) make MaxSandboxes.
    private readonly Channel<bool> _freeSlots;
    // What the background filler is asked: to refill (after the first run of a sandbox just taken), or to say
    // when MinReady are ready (WarmUpAsync).
    private readonly Channel<FillRequest> _fillRequests = Channel.CreateUnbounded<FillRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SessionTable<PoolSession> _sessions = new();
    private readonly Func<Task<PoolSession>> _startSession;
    private readonly Lazy<Task> _filler;
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _freed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Calls in progress, plus one that the pool holds until it is disposed: the count reaches zero only then,
    // when the last call ends.
    private int _calls = 1;
    private int _disposed;
    // When a ready sandbox was last taken or recycled (Environment.TickCount64): extra ready ones idle since are trimmed.
    private long _readyLastUsed = Environment.TickCount64;

    /// <summary>Creates a pool. Nothing starts until its first call.</summary>
    /// <param name="options">Pool and sandbox settings; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public SandboxPool(SandboxPoolOptions? options = null)
    {
        options ??= new SandboxPoolOptions();
        options.Validate();
        _options = options;
        _telemetry = SandboxTelemetry.For(options.Sandbox);
        _freeSlots = Channel.CreateBounded<bool>(options.MaxSandboxes);
        for (var i = 0; i < options.MaxSandboxes; i++)
        {
            _freeSlots.Writer.TryWrite(true);
        }

        _startSession = StartSessionAsync;
        _filler = new Lazy<Task>(() => Task.Run(FillAsync));
    }

    /// <summary>The options this pool was created with.</summary>
    public SandboxPoolOptions Options => _options;

    /// <inheritdoc/>
    SandboxOptions ISandboxRunner.SandboxOptions => _options.Sandbox;

    /// <summary>Sandboxes started and waiting to be used.</summary>
    public int ReadyCount => _ready.Reader.Count;

    /// <summary>Open sessions, counting those whose sandbox is still being taken.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Starts filling the pool if it has not started, and waits until <see cref="SandboxPoolOptions.MinReady"/>
    /// sandboxes are ready.</summary>
    /// <param name="cancellationToken">Stops the wait (not the filling).</param>
    /// <remarks>It returns once the background filler has had <see cref="SandboxPoolOptions.MinReady"/> ready at the same
    /// time; callers may take some at once. While every place is in use (sessions, sandboxes taken out), it waits for one
    /// to be freed.</remarks>
    /// <exception cref="SandboxStartException">The pool failed to start a sandbox (assets, engine).</exception>
    /// <exception cref="SandboxAssetException">The asset folder failed verification.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task WarmUpAsync(CancellationToken cancellationToken = default)
    {
        using var call = BeginCall();
        if (_ready.Reader.Count >= _options.MinReady)
        {
            return;
        }

        // The filler answers after its next round of starts: ready, or the start's failure.
        var filled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ObjectDisposedException.ThrowIf(!_fillRequests.Writer.TryWrite(new FillRequest(null, filled)), this);
        await filled.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs code in a fresh interpreter: a ready sandbox, reset in place afterwards (or discarded and replaced
    /// when its code reached further than a reset undoes, see <see cref="PythonSandbox.ResetAsync"/>).</summary>
    /// <param name="code">Python source.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run (see <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>).</param>
    /// <returns>The run's result, as from <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<SandboxResult> RunAsync(string code, CancellationToken cancellationToken = default) => RunAsync(code, null, cancellationToken);

    /// <summary>Runs code with data (globals, files in and out) in a fresh interpreter, as <see cref="RunAsync(string, CancellationToken)"/> does.</summary>
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
        using var call = BeginCall();
        var run = PreparedRun.Create(code, inputs, _options.Sandbox);
        using var activity = SandboxTelemetry.StartRun("fresh");
        try
        {
            var result = run.Refused ?? await RunFreshAsync(run, cancellationToken).ConfigureAwait(false);
            _telemetry.RunEnded(result, activity);
            return result;
        }
        catch (Exception e)
        {
            _telemetry.RunFailed(e, activity);
            throw;
        }
    }

    private async Task<SandboxResult> RunFreshAsync(PreparedRun run, CancellationToken cancellationToken)
    {
        var waitStarted = Stopwatch.GetTimestamp();
        var sandbox = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await sandbox.RunAsync(run, waitStarted, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseToPoolAsync(sandbox).ConfigureAwait(false); // after the caller has its result
        }
    }

    // A used sandbox goes back to the pool: reset in place in the background (counted as a call of its own, so that
    // disposing the pool waits for it), or disposed when resets in place are off or the pool is going.
    private ValueTask ReleaseToPoolAsync(PythonSandbox sandbox)
    {
        if (_options.ResetInPlace && TryBeginCall())
        {
            _ = Task.Run(() => RecycleAsync(sandbox), CancellationToken.None);
            return ValueTask.CompletedTask;
        }

        return sandbox.DisposeAsync();
    }

    // Reset in place (a few milliseconds, more after a run that wrote much memory) and ready again; a sandbox whose code
    // reached further than a reset undoes is discarded, and its place refilled with a new isolate.
    private async Task RecycleAsync(PythonSandbox sandbox)
    {
        using var call = new Call(this);
        var started = Stopwatch.GetTimestamp();
        if (Volatile.Read(ref _disposed) == 0 && await sandbox.TryRecycleAsync().ConfigureAwait(false))
        {
            // Refused once the pool is disposed (the channel is completed): then the sandbox is disposed below.
            if (_ready.Writer.TryWrite(sandbox))
            {
                Volatile.Write(ref _readyLastUsed, Environment.TickCount64);
                _telemetry.Metrics.PoolReady.Add(1);
                return;
            }
        }
        else
        {
            _telemetry.SandboxReset("discarded", Stopwatch.GetElapsedTime(started));
        }

        await sandbox.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs code in the session's sandbox, opening the session (from a ready sandbox) if needed.</summary>
    /// <param name="sessionId">Any non-empty string chosen by the caller, such as a user or conversation id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run (see <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>).</param>
    /// <returns>The run's result. When it says <see cref="SandboxResult.SandboxLost"/>, the session was ended
    /// with its sandbox, and the next call opens a new one with fresh state.</returns>
    /// <remarks>Calls for one session run one at a time, in its one sandbox; concurrent first calls for an id share
    /// one new session. A call that is in the session when <see cref="EndSessionAsync"/> ends it (running, or waiting
    /// its turn) is stopped and returns <see cref="SandboxResult.SandboxLost"/> with a <c>KeyboardInterrupt</c> error.
    /// When a run loses the sandbox, the calls that were waiting their turn start over in a new session.</remarks>
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
    /// <returns>The run's result, with the files read back. When it says <see cref="SandboxResult.SandboxLost"/>, the
    /// session was ended with its sandbox, and the next call opens a new one with fresh state.</returns>
    /// <remarks>As for <see cref="RunInSessionAsync(string, string, CancellationToken)"/>.</remarks>
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
        using var call = BeginCall();
        var run = PreparedRun.Create(code, inputs, _options.Sandbox);
        using var activity = SandboxTelemetry.StartRun("session");
        try
        {
            var result = run.Refused ?? await RunInSessionAsync(sessionId, run, cancellationToken).ConfigureAwait(false);
            _telemetry.RunEnded(result, activity);
            return result;
        }
        catch (Exception e)
        {
            _telemetry.RunFailed(e, activity);
            throw;
        }
    }

    private async Task<SandboxResult> RunInSessionAsync(string sessionId, PreparedRun run, CancellationToken cancellationToken)
    {
        var waitStarted = Stopwatch.GetTimestamp();
        while (true)
        {
            var session = await _sessions.GetOrStartAsync(sessionId, _startSession, cancellationToken).ConfigureAwait(false);
            if (!session.TryEnter())
            {
                _sessions.Remove(sessionId, session);
                continue; // ended (expired, lost) between the lookup and now: open a new one
            }

            var clock = Stopwatch.StartNew();
            try
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.StopCalls);
                return await session.Sandbox.RunAsync(run, waitStarted, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(e.Message, e, cancellationToken); // the caller's, with the caller's token
            }
            catch (Exception e) when (e is (OperationCanceledException or SandboxFaultedException) && session.End == SessionEnd.Ended)
            {
                return EndedDuringCall(clock.Elapsed);
            }
            catch (SandboxFaultedException)
            {
                // Lost under an earlier call while this one waited its turn: start over in a new session.
            }
            finally
            {
                if (session.Sandbox.IsFaulted && await session.TryEndAsync(SessionEnd.Lost).ConfigureAwait(false))
                {
                    _sessions.Remove(sessionId, session);
                    SandboxLog.PoolSessionSandboxReplaced(_telemetry.Logger);
                }

                await session.ExitAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Ends a session: stops the call in it (and those waiting their turn), waits for them to stop, and frees its
    /// sandbox (reset in place in the background and made ready for the next caller, or discarded; see
    /// <see cref="SandboxPoolOptions.ResetInPlace"/>).</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <returns>Whether the session was open (a session still starting is ended once it has started). False after the
    /// pool was disposed, which ends every session.</returns>
    /// <remarks>The calls stopped return <see cref="SandboxResult.SandboxLost"/> with a <c>KeyboardInterrupt</c> error
    /// (see <see cref="RunInSessionAsync(string, string, CancellationToken)"/>); a run that finishes before the stop
    /// reaches it returns its own result. Stopping takes what cancelling a run takes: milliseconds for Python code,
    /// longer for C-level work that must be terminated. The next call for the id opens a new session.</remarks>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty.</exception>
    public async Task<bool> EndSessionAsync(string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        if (!TryBeginCall())
        {
            return false;
        }

        try
        {
            if (!_sessions.TryGet(sessionId, out var entry))
            {
                return false;
            }

            PoolSession session;
            try
            {
                session = await entry.ConfigureAwait(false);
            }
#pragma warning disable CA1031 // whatever it was, the start failed: there was no session to end
            catch (Exception)
#pragma warning restore CA1031
            {
                return false;
            }

            if (!await session.TryEndAsync(SessionEnd.Ended).ConfigureAwait(false))
            {
                return false; // already ended: expired, lost, or by another call
            }

            _sessions.Remove(sessionId, session);
            await session.Closed.ConfigureAwait(false);
            return true;
        }
        finally
        {
            EndCall();
        }
    }

    /// <summary>Takes a ready sandbox out of the pool (starting one if none is ready). The caller owns it.</summary>
    /// <returns>A sandbox in its started state (new, or reset in place after an earlier fresh run). Disposing it frees its place in the pool.</returns>
    /// <exception cref="SandboxStartException">No sandbox was ready and one failed to start.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<PythonSandbox> TakeAsync(CancellationToken cancellationToken = default)
    {
        using var call = BeginCall();
        return await AcquireAsync(cancellationToken).ConfigureAwait(false);
    }

    private static SandboxResult EndedDuringCall(TimeSpan elapsed) => new()
    {
        Error = PythonError.Of("KeyboardInterrupt", "the session was ended (SandboxPool.EndSessionAsync) before this run finished"),
        SandboxLost = true,
        Elapsed = elapsed,
    };

    private async Task<PythonSandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var waitedForPlace = false;
        while (true)
        {
            ThrowIfDisposed();
            cancellationToken.ThrowIfCancellationRequested();
            if (_ready.Reader.TryRead(out var sandbox))
            {
                _telemetry.Metrics.PoolReady.Add(-1);
                Volatile.Write(ref _readyLastUsed, Environment.TickCount64);
                // Starting a sandbox takes a core for ~0.5 s; started now, it would slow the first
                // run of the one just taken, which is what the caller is waiting for.
                RequestFill(afterTake: sandbox.FirstCallEnded);
                if (!sandbox.IsFaulted)
                {
                    return Acquired(sandbox, started, waitedForPlace);
                }

                SandboxLog.PoolDiscardedFaultedSandbox(_telemetry.Logger);
                await sandbox.DisposeAsync().ConfigureAwait(false);
                continue;
            }

            if (_freeSlots.Reader.TryRead(out _))
            {
                try
                {
                    return Acquired(await StartSandboxAsync(cancellationToken).ConfigureAwait(false), started, waitedForPlace);
                }
                finally
                {
                    RequestFill();
                }
            }

            if (!waitedForPlace)
            {
                waitedForPlace = true;
                SandboxLog.PoolExhausted(_telemetry.Logger, _options.MaxSandboxes);
            }

            await WaitForReadyOrFreeAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private PythonSandbox Acquired(PythonSandbox sandbox, long started, bool waitedForPlace)
    {
        var waited = Stopwatch.GetElapsedTime(started);
        _telemetry.Metrics.PoolWait.Record(waited.TotalSeconds);
        if (waitedForPlace)
        {
            SandboxLog.PoolWaitEnded(_telemetry.Logger, waited.TotalMilliseconds);
        }

        return sandbox;
    }

    // Returns when a sandbox is ready or a place is free (or the wait is cancelled, or the pool disposed), taking
    // neither: the caller's loop takes it, or finds that another caller was quicker and waits again.
    private async Task WaitForReadyOrFreeAsync(CancellationToken cancellationToken)
    {
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        var ready = _ready.Reader.WaitToReadAsync(wake.Token).AsTask();
        var free = _freeSlots.Reader.WaitToReadAsync(wake.Token).AsTask();
        await Task.WhenAny(ready, free).ConfigureAwait(false);
        await wake.CancelAsync().ConfigureAwait(false); // withdraws the other wait from its channel
    }

    // Takes ownership of one place: given back when the sandbox is disposed, or now if it fails to start.
    private async Task<PythonSandbox> StartSandboxAsync(CancellationToken cancellationToken)
    {
        try
        {
            var sandbox = await PythonSandbox.CreateAsync(_options.Sandbox, _options.ResetInPlace, cancellationToken).ConfigureAwait(false);
            _telemetry.Metrics.PoolLive.Add(1);
            sandbox.Released = ReleaseSandbox;
            return sandbox;
        }
        catch
        {
            ReleaseSlot();
            throw;
        }
    }

    private void ReleaseSandbox()
    {
        _telemetry.Metrics.PoolLive.Add(-1);
        ReleaseSlot();
    }

    private void ReleaseSlot()
    {
        var released = _freeSlots.Writer.TryWrite(true);
        Debug.Assert(released, "A place was given back twice.");
        RequestFill();
    }

    // Not tied to one caller's token: other calls for the same session may be waiting on it.
    private async Task<PoolSession> StartSessionAsync()
    {
        try
        {
            return new PoolSession(await AcquireAsync(_disposing.Token).ConfigureAwait(false), ReleaseSessionSandboxAsync);
        }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
        {
            throw new ObjectDisposedException(GetType().FullName); // what the callers waiting for it are told
        }
    }

    // A session's sandbox once the session has ended or idled out goes back to the pool, as after a fresh run (a new
    // session then starts in milliseconds instead of costing a new isolate). Lost, or the pool going: disposed.
    private ValueTask ReleaseSessionSandboxAsync(PythonSandbox sandbox, SessionEnd end) =>
        end is SessionEnd.Ended or SessionEnd.Expired ? ReleaseToPoolAsync(sandbox) : sandbox.DisposeAsync();

    // Sandboxes recycled after a burst (of sessions or fresh runs) stay ready beyond MinReady; once none has been taken
    // or recycled for an idle timeout, the extra ones are disposed and their memory given back.
    private async Task TrimIdleReadyAsync()
    {
        if (_ready.Reader.Count <= _options.MinReady
            || Environment.TickCount64 - Volatile.Read(ref _readyLastUsed) < _options.SessionIdleTimeout.TotalMilliseconds)
        {
            return;
        }

        while (_ready.Reader.Count > _options.MinReady && _ready.Reader.TryRead(out var sandbox))
        {
            _telemetry.Metrics.PoolReady.Add(-1);
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void RequestFill(Task? afterTake = null) => _fillRequests.Writer.TryWrite(new FillRequest(afterTake, null));

    // The background loop: keeps MinReady sandboxes ready, answers WarmUpAsync, and expires idle sessions.
    // It ends when the pool is disposed.
    private async Task FillAsync()
    {
        var failures = 0;
        var sweepInterval = TimeSpan.FromTicks(Math.Clamp(_options.SessionIdleTimeout.Ticks / 4, TimeSpan.TicksPerSecond / 4, TimeSpan.TicksPerMinute));
        var firstRuns = new List<Task>();
        var warmUps = new List<TaskCompletionSource>();
        try
        {
            while (!_disposing.IsCancellationRequested)
            {
                Exception? failure = null;
                try
                {
                    await ExpireIdleSessionsAsync().ConfigureAwait(false);
                    await TrimIdleReadyAsync().ConfigureAwait(false);
                    while (_ready.Reader.Count < _options.MinReady && !_disposing.IsCancellationRequested)
                    {
                        TakeRequests(firstRuns, warmUps);
                        if (firstRuns.Count > 0)
                        {
                            await Task.WhenAny(Task.WhenAll(firstRuns), Task.Delay(MaxRefillDeferral, _disposing.Token)).ConfigureAwait(false);
                            firstRuns.Clear();
                        }

                        if (!_freeSlots.Reader.TryRead(out _))
                        {
                            break; // every place is in use: a freed one asks for a refill
                        }

                        var sandbox = await StartSandboxAsync(_disposing.Token).ConfigureAwait(false);
                        if (_ready.Writer.TryWrite(sandbox))
                        {
                            _telemetry.Metrics.PoolReady.Add(1);
                        }
                        else
                        {
                            await sandbox.DisposeAsync().ConfigureAwait(false); // the pool was disposed during the start
                        }

                        failures = 0;
                    }
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
                    failure = e;
                }

                TakeRequests(firstRuns, warmUps);
                AnswerWarmUps(warmUps, failure);
                var wait = failures == 0 ? sweepInterval
                    : TimeSpan.FromMilliseconds(Math.Min(MaxRetryDelay.TotalMilliseconds, 250 * Math.Pow(2, failures)));
                if (failure is not null)
                {
                    SandboxLog.PoolStartFailed(_telemetry.Logger, failures, wait.TotalMilliseconds, failure);
                }

                if (!await WaitForRequestAsync(wait).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        finally
        {
            // Warm-ups asked before the pool was disposed learn it here; later ones cannot be written.
            _fillRequests.Writer.TryComplete();
            TakeRequests(firstRuns, warmUps);
            foreach (var warmUp in warmUps)
            {
                warmUp.TrySetException(new ObjectDisposedException(GetType().FullName));
            }
        }
    }

    // Reads every request waiting: the first runs of sandboxes taken since the last start (still running),
    // and the warm-ups to answer.
    private void TakeRequests(List<Task> firstRuns, List<TaskCompletionSource> warmUps)
    {
        while (_fillRequests.Reader.TryRead(out var request))
        {
            if (request.AfterTake is { IsCompleted: false } firstRun)
            {
                firstRuns.Add(firstRun);
            }

            if (request.WarmUp is { } warmUp)
            {
                warmUps.Add(warmUp);
            }
        }

        firstRuns.RemoveAll(static run => run.IsCompleted);
    }

    private void AnswerWarmUps(List<TaskCompletionSource> warmUps, Exception? failure)
    {
        if (failure is not null)
        {
            var error = failure as SandboxException ?? new SandboxStartException("The pool failed to start a sandbox: " + failure.Message, failure);
            warmUps.ForEach(warmUp => warmUp.TrySetException(error));
            warmUps.Clear();
        }
        else if (_ready.Reader.Count >= _options.MinReady)
        {
            warmUps.ForEach(static warmUp => warmUp.TrySetResult());
            warmUps.Clear();
        }

        // Else every place is in use: the warm-ups wait for the round after one is freed.
    }

    // Waits for the next request, or until it is time to sweep the sessions or to retry a failed start.
    // False once the pool is disposed (no more requests can come).
    private async Task<bool> WaitForRequestAsync(TimeSpan wait)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token);
        timeout.CancelAfter(wait);
        try
        {
            return await _fillRequests.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return !_disposing.IsCancellationRequested;
        }
    }

    private async Task ExpireIdleSessionsAsync()
    {
        foreach (var (sessionId, session) in _sessions.Started())
        {
            if (await session.TryExpireAsync(_options.SessionIdleTimeout).ConfigureAwait(false))
            {
                _sessions.Remove(sessionId, session);
            }
        }
    }

    // Counts a call in (refused once the pool is disposed) and starts the background filling on the first one.
    private Call BeginCall()
    {
        ObjectDisposedException.ThrowIf(!TryBeginCall(), this);
        _ = _filler.Value;
        return new Call(this);
    }

    private bool TryBeginCall()
    {
        Interlocked.Increment(ref _calls);
        if (Volatile.Read(ref _disposed) == 0)
        {
            return true;
        }

        EndCall();
        return false;
    }

    private void EndCall()
    {
        if (Interlocked.Decrement(ref _calls) == 0)
        {
            _drained.TrySetResult();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Refuses new calls, waits for the calls in progress, then disposes every sandbox the pool holds.</summary>
    /// <returns>Completes when every sandbox of the pool (not those taken out) has been disposed.</returns>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        await _freed.Task.ConfigureAwait(false);
    }

    /// <summary>Refuses new calls and disposes the ready sandboxes, without waiting for anything. The calls in progress
    /// finish; the session sandboxes are disposed in the background after them (see <see cref="DisposeAsync"/>, which
    /// waits for that).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Completed first: a sandbox the filler finishes starting after this is disposed, not left in the channel.
        _fillRequests.Writer.TryComplete();
        _ready.Writer.TryComplete();
        _disposing.Cancel(); // wakes callers waiting for a sandbox (they see the pool disposed) and stops the filler
        while (_ready.Reader.TryRead(out var sandbox))
        {
            _telemetry.Metrics.PoolReady.Add(-1);
            sandbox.Dispose(); // no run is in a ready sandbox: nothing to stop or wait for
        }

        _ = FreeAfterCallsAsync();
        EndCall(); // the pool's own count: from now on the last call to end sets off the rest
    }

    private async Task FreeAfterCallsAsync()
    {
        try
        {
            await _drained.Task.ConfigureAwait(false);
            // No call is in progress, so no call is inside a session: each is disposed at once. A session still
            // starting is one no caller waits for any more; its start was cancelled with the pool.
            foreach (var entry in _sessions.Close())
            {
                try
                {
                    await (await entry.ConfigureAwait(false)).TryEndAsync(SessionEnd.PoolDisposed).ConfigureAwait(false);
                }
                catch (Exception) when (!entry.IsCompletedSuccessfully)
                {
                    // the start failed: there is nothing to dispose
                }
            }

            if (_filler.IsValueCreated)
            {
                await _filler.Value.ConfigureAwait(false);
            }

            _disposing.Dispose();
            _freed.TrySetResult();
        }
#pragma warning disable CA1031 // handed to DisposeAsync's caller
        catch (Exception e)
#pragma warning restore CA1031
        {
            _freed.TrySetException(e);
        }
    }

    private readonly record struct FillRequest(Task? AfterTake, TaskCompletionSource? WarmUp);

    private readonly struct Call(SandboxPool pool) : IDisposable
    {
        public void Dispose() => pool.EndCall();
    }
}
