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
    private readonly EngineThread _thread;
    private RunControl? _current;
    private Task? _abandonedRun;
    private string? _faultReason;
    private int _disposed;

    /// <summary>Called once when the sandbox is disposed (a pool frees its slot).</summary>
    internal Action? Released { get; set; }

    private PythonSandbox(SandboxOptions options, PyodideEngine engine)
    {
        _options = options;
        _engine = engine;
        _thread = new EngineThread("PyodideEmbedded sandbox");
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
            var sandbox = new PythonSandbox(options, engine);
            try
            {
                await sandbox._thread.RunAsync(() => { engine.WarmUp(); return true; }).ConfigureAwait(false);
            }
            catch
            {
                sandbox.Dispose();
                throw;
            }

            return sandbox;
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
        var clock = Stopwatch.StartNew();
        using var control = new RunControl(_engine, _options.Timeout, _options.InterruptGracePeriod);
        Volatile.Write(ref _current, control);
        var execution = _thread.RunAsync(() => _engine.Run(code, control.StopSignal));
        string? envelope = null;
        Exception? failure = null;
        using (cancellationToken.Register(static c => ((RunControl)c!).Stop(StopReason.Cancelled), control))
        {
            await Task.WhenAny(execution, control.Abandoned).ConfigureAwait(false);
        }

        if (!execution.IsCompleted)
        {
            // V8 ignored termination (stuck in one huge native operation). Leave the engine to its
            // thread, which disposes it when it returns, and answer the caller now.
            Volatile.Write(ref _abandonedRun, execution);
            Fault("a run did not stop when terminated");
        }
        else if (execution.IsFaulted)
        {
            failure = execution.Exception!.InnerException;
        }
        else
        {
            envelope = execution.Result;
        }

        control.Dispose(); // from here on no interrupt can reach the engine
        Volatile.Write(ref _current, null);
        clock.Stop();
        if (control.Terminated)
        {
            // A terminated run can leave CPython half-way through anything (a held GIL, a leaked
            // recursion counter), so the interpreter is never trusted again.
            _engine.CancelTerminate();
            Fault(control.Reason == StopReason.Cancelled ? "a cancelled run was terminated" : "a run was terminated at its time limit");
        }

        var result = Interpret(envelope, failure, control, clock.Elapsed);
        if (control.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The run was cancelled.", failure, cancellationToken);
        }

        return result;
    }

    private SandboxResult Interpret(string? envelope, Exception? failure, RunControl control, TimeSpan elapsed)
    {
        if (envelope is not null)
        {
            // The envelope is built inside the sandbox, where hostile code can rewrite anything
            // (JSON.stringify, the runner's own globals): parse it defensively and apply the caps here.
            if (ResultEnvelope.TryParse(envelope, _options.MaxOutputBytes, out var parsed))
            {
                var result = parsed with { Elapsed = elapsed, SandboxLost = IsFaulted };
                // KeyboardInterrupt from our own soft interrupt (time limit, or a stop by disposal) is
                // not the user's exception; it is reported as the hard-stop path reports it.
                if (control.Reason != StopReason.None && result.Error?.TypeName == "KeyboardInterrupt")
                {
                    result = result with { Error = TimeoutError(result.Error.Traceback), TimedOut = control.Reason == StopReason.Timeout };
                }

                return result;
            }

            Fault("the sandbox returned a malformed result");
            return new SandboxResult
            {
                Error = PythonError.FromLimit("SandboxError", "the sandbox returned a malformed result and was discarded"),
                SandboxLost = true,
                Elapsed = elapsed,
            };
        }

        if (control.Terminated || (failure is null && control.Reason != StopReason.None))
        {
            // Without termination this was a run stopped while awaiting: no Python frame was
            // running, so the interpreter is intact.
            return new SandboxResult { Error = TimeoutError(null), TimedOut = control.Reason == StopReason.Timeout, SandboxLost = IsFaulted, Elapsed = elapsed };
        }

        // The engine itself failed (the JavaScript heap limit, or script that broke the runtime):
        // nothing in it can be trusted.
        var heap = failure is ScriptEngineException { IsFatal: true } || IsHeapFailure(failure);
        var message = heap
            ? $"the sandbox passed its JavaScript heap limit of {_options.JsHeapLimitBytes} bytes"
            : "the sandbox's engine failed: " + ErrorText.Shorten(failure?.Message ?? "unknown error");
        Fault(message);
        return new SandboxResult { Error = PythonError.FromLimit(heap ? "MemoryError" : "SandboxError", message), SandboxLost = true, Elapsed = elapsed };
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

    private void Fault(string reason) => Interlocked.CompareExchange(ref _faultReason, reason, null);

    /// <summary>Stops a running call (at once, as a hard time limit would), waits for it, and frees the isolate.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Read(ref _current)?.Stop(StopReason.Disposed);
        _gate.Wait();
        ReleaseEngine();
    }

    /// <summary>Same as <see cref="Dispose"/>, without blocking a thread while a run stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Read(ref _current)?.Stop(StopReason.Disposed);
        await _gate.WaitAsync().ConfigureAwait(false);
        ReleaseEngine();
    }

    private void ReleaseEngine()
    {
        _thread.Dispose();
        if (Volatile.Read(ref _abandonedRun) is { IsCompleted: false } stuck)
        {
            // Disposing an isolate that is still executing would block; do it when the run ends.
            stuck.ContinueWith(_ => _engine.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        else
        {
            _engine.Dispose();
        }

        _gate.Dispose();
        Released?.Invoke();
    }
}
