using System.Diagnostics;
using System.Text;
using Microsoft.ClearScript;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded;

/// <summary>
/// A Python interpreter (Pyodide) in its own V8 isolate, with time, memory and output limits.
/// Variables, imports and definitions persist from one <see cref="RunAsync"/> to the next.
/// </summary>
/// <remarks>
/// <para>Thread-safe: calls from several threads queue and run one at a time. For parallelism, create
/// more sandboxes; each has its own isolate and state and runs on its own thread.</para>
/// <para>A run that passes its time limit first gets a <c>KeyboardInterrupt</c> inside Python, which keeps
/// the sandbox usable; code that ignores it is terminated, and the sandbox becomes
/// <see cref="IsFaulted"/>. A faulted sandbox throws <see cref="SandboxFaultedException"/>: dispose it
/// and create another.</para>
/// </remarks>
public sealed class PythonSandbox : IAsyncDisposable, IDisposable
{
    private readonly SandboxOptions _options;
    private readonly PyodideEngine _engine;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _interruptLock = new();
    private RunState? _current;
    private string? _faultReason;
    private int _disposed;

    private PythonSandbox(SandboxOptions options, PyodideEngine engine)
    {
        _options = options;
        _engine = engine;
    }

    /// <summary>The options this sandbox was created with.</summary>
    public SandboxOptions Options => _options;

    /// <summary>The Pyodide version running in this sandbox.</summary>
    public string PyodideVersion => _engine.PyodideVersion;

    /// <summary>Whether the sandbox was discarded after a hard stop and can run nothing more.</summary>
    public bool IsFaulted => Volatile.Read(ref _faultReason) is not null;

    /// <summary>Starts a sandbox: verifies the assets (once per process and folder) and boots Pyodide.</summary>
    /// <param name="options">Limits and asset folder; <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="SandboxAssetException">An asset is missing, altered or not in the manifest.</exception>
    /// <exception cref="SandboxStartException">Pyodide failed to start.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<PythonSandbox> CreateAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var assets = await Task.Run(() => AssetStore.Load(options.ResolvedAssetsPath), cancellationToken).ConfigureAwait(false);
        try
        {
            var engine = await PyodideEngine.StartAsync(assets, options, cancellationToken).ConfigureAwait(false);
            return new PythonSandbox(options, engine);
        }
        catch (ScriptEngineException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SandboxStartException("Pyodide failed to start: " + ErrorText.Shorten(e.Message), e);
        }
        catch (ScriptInterruptedException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("Sandbox start was cancelled.", e, cancellationToken);
        }
    }

    /// <summary>Runs Python code and returns its last expression's value, its output and any error.</summary>
    /// <param name="code">Python source. Top-level <c>await</c> is allowed.</param>
    /// <param name="cancellationToken">Stops the run the same way the time limit does, then throws.</param>
    /// <returns>The result; a Python exception or a passed limit is reported in <see cref="SandboxResult.Error"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The sandbox was disposed.</exception>
    /// <exception cref="SandboxFaultedException">An earlier run left the sandbox unusable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<SandboxResult> RunAsync(string code, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var codeBytes = Encoding.UTF8.GetByteCount(code);
        if (codeBytes > _options.MaxCodeBytes)
        {
            return new SandboxResult
            {
                Error = PythonError.FromLimit("CodeTooLargeError", $"the code is {codeBytes} bytes, more than the limit of {_options.MaxCodeBytes} bytes"),
            };
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (_faultReason is { } reason)
            {
                throw new SandboxFaultedException(reason);
            }

            return await RunExclusiveAsync(code, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<SandboxResult> RunExclusiveAsync(string code, CancellationToken cancellationToken)
    {
        var state = new RunState();
        var clock = Stopwatch.StartNew();
        lock (_interruptLock)
        {
            _current = state;
        }

        string? envelope = null;
        Exception? failure = null;
        // V8 blocks the calling thread for the whole run: keep it off the thread pool.
        var execution = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    envelope = _engine.Run(code, state.StopSignal.WaitHandle);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        using (var timer = new Timer(static s => ((RunState)s!).Stopper?.Invoke(StopReason.Timeout), state, Timeout.Infinite, Timeout.Infinite))
        using (cancellationToken.Register(static s => ((RunState)s!).Stopper?.Invoke(StopReason.Cancelled), state))
        {
            state.Stopper = reason => Stop(state, reason);
            timer.Change(_options.Timeout, Timeout.InfiniteTimeSpan);
            if (cancellationToken.IsCancellationRequested)
            {
                Stop(state, StopReason.Cancelled);
            }

            await execution.ConfigureAwait(false);
        }

        lock (_interruptLock)
        {
            _current = null;
            state.Finished = true;
            state.HardTimer?.Dispose();
        }

        state.StopSignal.Dispose();

        clock.Stop();
        if (state.Terminated)
        {
            // A terminated run can leave CPython half-way through anything (a held GIL, a leaked
            // recursion counter), so the interpreter is never trusted again.
            _engine.CancelTerminate();
            Fault(state.Reason == StopReason.Cancelled ? "a cancelled run was terminated" : "a run was terminated at its time limit");
        }

        var result = Interpret(envelope, failure, state, clock.Elapsed);
        if (state.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The run was cancelled.", failure, cancellationToken);
        }

        return result;
    }

    private SandboxResult Interpret(string? envelope, Exception? failure, RunState state, TimeSpan elapsed)
    {
        if (envelope is not null)
        {
            var result = ResultEnvelope.Parse(envelope) with { Elapsed = elapsed };
            // KeyboardInterrupt from our own soft interrupt is the time limit, not the user's exception.
            if (state.Reason == StopReason.Timeout && result.Error?.TypeName == "KeyboardInterrupt")
            {
                result = result with { Error = TimeoutError(result.Error.Traceback), TimedOut = true };
            }

            return result;
        }

        if (failure is null)
        {
            // Stopped while awaiting: no Python frame was running, so the interpreter is intact.
            return new SandboxResult { Error = TimeoutError(null), TimedOut = state.Reason == StopReason.Timeout, Elapsed = elapsed };
        }

        if (state.Terminated)
        {
            return new SandboxResult { Error = TimeoutError(null), TimedOut = state.Reason == StopReason.Timeout, SandboxLost = true, Elapsed = elapsed };
        }

        // The engine itself failed (for example the JavaScript heap limit): nothing in it can be trusted.
        var message = failure is ScriptEngineException { IsFatal: true } || IsHeapFailure(failure)
            ? $"the sandbox passed its JavaScript heap limit of {_options.JsHeapLimitBytes} bytes"
            : "the sandbox's engine failed: " + ErrorText.Shorten(failure?.Message ?? "unknown error");
        Fault(message);
        return new SandboxResult { Error = PythonError.FromLimit("MemoryError", message), SandboxLost = true, Elapsed = elapsed };
    }

    private PythonError TimeoutError(string? traceback)
    {
        var message = $"execution exceeded the time limit of {_options.Timeout.TotalMilliseconds:0.###} ms";
        var error = PythonError.FromLimit("TimeoutError", message);
        return traceback is null ? error : error with { Traceback = traceback.TrimEnd() + "\n\n" + error.Summary + "\n" };
    }

    private static bool IsHeapFailure(Exception? e) =>
        e?.Message.Contains("heap", StringComparison.OrdinalIgnoreCase) == true
        || e?.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) == true;

    private void Stop(RunState state, StopReason reason)
    {
        lock (_interruptLock)
        {
            if (state.Finished || state.Reason != StopReason.None || !ReferenceEquals(_current, state))
            {
                return;
            }

            state.Reason = reason;
            state.StopSignal.Set();
            _engine.RequestSoftInterrupt();
            state.HardTimer = new Timer(
                static s =>
                {
                    var (sandbox, run) = ((PythonSandbox, RunState))s!;
                    lock (sandbox._interruptLock)
                    {
                        if (!run.Finished)
                        {
                            run.Terminated = true;
                            sandbox._engine.Terminate();
                        }
                    }
                },
                (this, state),
                _options.InterruptGracePeriod,
                Timeout.InfiniteTimeSpan);
        }
    }

    private void Fault(string reason) => Interlocked.CompareExchange(ref _faultReason, reason, null);

    /// <summary>Stops a running call (as its time limit would), waits for it, and frees the isolate.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_interruptLock)
        {
            if (_current is { } running)
            {
                running.Terminated = true;
                running.Reason = StopReason.Disposed;
                _engine.Terminate();
            }
        }

        _gate.Wait();
        _engine.Dispose();
        _gate.Dispose();
    }

    /// <summary>Same as <see cref="Dispose"/>.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private enum StopReason
    {
        None,
        Timeout,
        Cancelled,
        Disposed,
    }

    private sealed class RunState
    {
        public Action<StopReason>? Stopper;
        public StopReason Reason;
        public bool Terminated;
        public bool Finished;
        public Timer? HardTimer;
        public ManualResetEventSlim StopSignal { get; } = new();
    }
}
