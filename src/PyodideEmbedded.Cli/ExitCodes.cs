using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>Process exit codes of <c>pyodide-sandbox</c>, following shell conventions where one exists.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int PythonError = 1;
    public const int Usage = 2;
    public const int AssetError = 3;
    public const int StartError = 4;
    public const int EngineFailure = 5;  // the interpreter crashed (a WebAssembly trap) or its engine failed
    public const int Timeout = 124;      // as timeout(1)
    public const int MemoryLimit = 137;  // as a process killed for memory

    /// <summary>The exit code for a run's result: from the typed limit that ended it, never from an exception's name.</summary>
    public static int For(SandboxResult result) => result.Limit switch
    {
        SandboxLimit.Time => Timeout,
        SandboxLimit.Memory or SandboxLimit.JsHeap => MemoryLimit,
        SandboxLimit.CodeSize or SandboxLimit.FileSize => Usage,
        SandboxLimit.EngineFailure => EngineFailure,
        _ => result.Error is null ? Success : PythonError,
    };

    /// <summary>The limit's name in JSON replies (<c>"limit"</c>), or null when no limit ended the run.</summary>
    public static string? LimitName(SandboxLimit limit) =>
        limit == SandboxLimit.None ? null : JsonNamingPolicy.SnakeCaseLower.ConvertName(limit.ToString()); // js_heap, engine_failure...
}
