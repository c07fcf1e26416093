namespace PyodideEmbedded;

/// <summary>Which limit of the sandbox ended a run (<see cref="SandboxResult.Limit"/>).</summary>
public enum SandboxLimit
{
    /// <summary>No limit: the run completed, or ended with the code's own Python exception.</summary>
    None,

    /// <summary>The run passed its time limit (<see cref="SandboxOptions.Timeout"/> or <see cref="RunInputs.Timeout"/>);
    /// the error is a <c>TimeoutError</c>.</summary>
    Time,

    /// <summary>Python asked for memory past <see cref="SandboxOptions.MemoryLimitBytes"/>; the error is the
    /// <c>MemoryError</c> Python raised. (A <c>MemoryError</c> the code raised itself is not a limit.)</summary>
    Memory,

    /// <summary>The sandbox's JavaScript heap passed <see cref="SandboxOptions.JsHeapLimitBytes"/> (the sandbox is
    /// then lost), or files written in did not fit in it; the error is a <c>MemoryError</c> or an <c>OSError</c>.</summary>
    JsHeap,

    /// <summary>The code (with its globals) was over <see cref="SandboxOptions.MaxCodeBytes"/> and did not run;
    /// the error is a <c>ValueError</c>.</summary>
    CodeSize,

    /// <summary>The files written in were over <see cref="SandboxOptions.MaxFileBytes"/> and the code did not run;
    /// the error is an <c>OSError</c>.</summary>
    FileSize,

    /// <summary>The interpreter or its engine failed (a WebAssembly trap, a crash in Pyodide, a malformed answer);
    /// the sandbox is lost and the error is a <c>SystemError</c>.</summary>
    EngineFailure,
}
