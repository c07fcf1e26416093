using Microsoft.ClearScript;

namespace PyodideEmbedded.Internal;

/// <summary>What one call on the engine thread returned (or threw), and how it was stopped.</summary>
internal readonly record struct EngineCall<T>(T? Value, Exception? Failure, RunControl Control);

/// <summary>
/// Owns a sandbox's engine and its thread while the sandbox lives: runs each call under its time limit
/// (soft interrupt, then termination, then abandonment, see <see cref="RunControl"/>), keeps the fault that
/// makes the sandbox unusable, and frees the engine at the end. The caller serialises calls (the sandbox's gate).
/// </summary>
internal sealed class RunSupervisor(PyodideEngine engine, EngineThread thread, TimeSpan interruptGracePeriod)
{
    private RunControl? _current;
    private Task? _abandonedRun;
    private string? _faultReason;

    public PyodideEngine Engine => engine;

    public EngineThread Thread => thread;

    /// <summary>
    /// Puts a newly started engine (on its own thread) in place of the current one, which is freed, and forgets the
    /// fault: a sandbox reset onto a new isolate. Called between calls (the caller holds the sandbox's gate).
    /// </summary>
    public void Replace(PyodideEngine newEngine, EngineThread newThread)
    {
        Release();
        engine = newEngine;
        thread = newThread;
        Volatile.Write(ref _abandonedRun, null);
        Volatile.Write(ref _faultReason, null);
    }

    /// <summary>Why the sandbox can run nothing more; null while it can.</summary>
    public string? FaultReason => Volatile.Read(ref _faultReason);

    public bool IsFaulted => FaultReason is not null;

    /// <summary>Marks the sandbox unusable; the first reason given is kept.</summary>
    public void Fault(string reason) => Interlocked.CompareExchange(ref _faultReason, reason, null);

    /// <summary>
    /// Runs work on the engine thread under <paramref name="timeout"/>, stopped too by <paramref name="cancellationToken"/>.
    /// Returns what it returned, or the exception it threw, and how it was stopped; faults the sandbox when the
    /// engine had to be terminated.
    /// </summary>
    public async Task<EngineCall<T>> CallAsync<T>(Func<WaitHandle, T> work, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var control = new RunControl(engine, timeout, interruptGracePeriod);
        Volatile.Write(ref _current, control);
        var execution = thread.RunAsync(() => work(control.StopSignal));
        T? value = default;
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
        else
        {
            // Completed, so this await does not wait: it hands back the value, or rethrows what the work threw.
            try
            {
                value = await execution.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failure = e;
            }
        }

        control.Dispose(); // from here on no interrupt can reach the engine
        Volatile.Write(ref _current, null);
        if (control.Terminated)
        {
            // A terminated run can leave CPython half-way through anything (a held GIL, a leaked
            // recursion counter), so the interpreter is never trusted again.
            engine.CancelTerminate();
            Fault(control.Reason == StopReason.Cancelled ? "a cancelled run was terminated" : "a run was terminated at its time limit");
        }

        if (failure is ScriptEngineException { IsFatal: true })
        {
            // ClearScript's heap monitor stopped the script: V8 refuses further execution.
            Fault("the sandbox passed its JavaScript heap limit");
        }

        return new EngineCall<T>(value, failure, control);
    }

    /// <summary>Stops the call in progress, if any (safe from any thread).</summary>
    public void StopCurrent(StopReason reason) => Volatile.Read(ref _current)?.Stop(reason);

    /// <summary>Ends the engine thread and frees the isolate (later, if a run was abandoned in it).</summary>
    public void Release()
    {
        thread.Dispose();
        var released = engine; // not the field: Replace puts another engine there
        if (Volatile.Read(ref _abandonedRun) is { IsCompleted: false } stuck)
        {
            // Disposing an isolate that is still executing would block; do it when the run ends.
            stuck.ContinueWith(_ => released.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        else
        {
            released.Dispose();
        }
    }
}
