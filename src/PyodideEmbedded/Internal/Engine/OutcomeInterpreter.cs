using Microsoft.ClearScript;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Turns what a run left behind (the envelope from the sandbox, an engine exception, how it was stopped)
/// into the <see cref="SandboxResult"/> the caller gets, with the typed <see cref="SandboxLimit"/> that
/// ended it. Faults the sandbox when what happened leaves it untrustworthy.
/// </summary>
internal static class OutcomeInterpreter
{
    public static SandboxResult Interpret(string? envelope, Exception? failure, RunControl control, TimeSpan timeout, TimeSpan elapsed, RunSupervisor supervisor, SandboxOptions options)
    {
        if (envelope is not null)
        {
            return FromEnvelope(envelope, control, timeout, elapsed, supervisor, options);
        }

        if (control.Terminated || (failure is null && control.Reason != StopReason.None))
        {
            // Without termination this was a run stopped while awaiting: no Python frame was
            // running, so the interpreter is intact.
            return new SandboxResult { Error = TimeoutError(timeout, null), Limit = SandboxLimit.Time, SandboxLost = supervisor.IsFaulted, Elapsed = elapsed };
        }

        // The engine itself failed (the JavaScript heap limit, or script that broke the runtime): nothing
        // in it can be trusted. ClearScript's heap monitor ends the script with a fatal error.
        var heap = failure is ScriptEngineException { IsFatal: true };
        var message = heap ? HeapLimitMessage(options)
            : failure is ScriptEngineException ? "the sandbox's engine failed: " + ErrorText.Shorten(failure.Message)
            : "the sandbox's engine failed"; // a host-side exception: its .NET text is not for the sandbox's user
        supervisor.Fault(message);
        return new SandboxResult
        {
            Error = PythonError.Of(heap ? "MemoryError" : "SystemError", message),
            Limit = heap ? SandboxLimit.JsHeap : SandboxLimit.EngineFailure,
            SandboxLost = true,
            Elapsed = elapsed,
        };
    }

    private static SandboxResult FromEnvelope(string envelope, RunControl control, TimeSpan timeout, TimeSpan elapsed, RunSupervisor supervisor, SandboxOptions options)
    {
        // The envelope is built inside the sandbox, where hostile code can rewrite anything
        // (JSON.stringify, the runner's own globals): parse it defensively and apply the caps here.
        if (ResultEnvelope.TryParse(envelope, options.MaxOutputBytes) is not { } parsed)
        {
            supervisor.Fault("the sandbox returned a malformed result");
            return new SandboxResult
            {
                Error = PythonError.Of("SystemError", "the sandbox returned a malformed result and was discarded"),
                Limit = SandboxLimit.EngineFailure,
                SandboxLost = true,
                Elapsed = elapsed,
            };
        }

        if (parsed.Crashed)
        {
            supervisor.Fault("the interpreter crashed");
            return parsed.Result with { Elapsed = elapsed, SandboxLost = true, Limit = SandboxLimit.EngineFailure };
        }

        var result = parsed.Result with { Elapsed = elapsed, SandboxLost = supervisor.IsFaulted };

        // Our soft interrupt (the time limit) reached Python, and the run ended in an exception: the
        // limit ended it, whatever exception the code let out.
        if (control.Reason == StopReason.Timeout && parsed.Interrupted && result.Error is { } stopped)
        {
            return result with { Error = TimeoutError(timeout, stopped.Traceback), Limit = SandboxLimit.Time };
        }

        // A MemoryError while the memory limit refused memory: the limit, not the code, raised it.
        return parsed.MemoryRefused && result.Error?.TypeName == "MemoryError" ? result with { Limit = SandboxLimit.Memory } : result;
    }

    public static string HeapLimitMessage(SandboxOptions options) =>
        $"the sandbox passed its JavaScript heap limit of {options.JsHeapLimitBytes} bytes";

    private static PythonError TimeoutError(TimeSpan timeout, string? traceback)
    {
        var message = $"execution exceeded the time limit of {timeout.TotalMilliseconds:0.###} ms";
        var error = PythonError.Of("TimeoutError", message);
        return traceback is null ? error : error with { Traceback = traceback.TrimEnd() + "\n\n" + error.Summary + "\n" };
    }
}
