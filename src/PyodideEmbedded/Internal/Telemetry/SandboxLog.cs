using Microsoft.Extensions.Logging;

namespace PyodideEmbedded.Internal;

/// <summary>
/// The library's log events, with stable ids. None carries the user's code, output, values or session ids: they can
/// hold secrets. What the events say is the host's own knowledge (times, limits, counts, asset files).
/// </summary>
internal static partial class SandboxLog
{
    public const string Category = "PyodideEmbedded";

    [LoggerMessage(EventId = 1, EventName = "SandboxStarted", Level = LogLevel.Information, Message = "Sandbox started in {ElapsedMs:0.0} ms")]
    public static partial void SandboxStarted(ILogger logger, double elapsedMs);

    [LoggerMessage(EventId = 2, EventName = "SandboxStartFailed", Level = LogLevel.Error, Message = "A sandbox failed to start after {ElapsedMs:0.0} ms ({ExceptionType})")]
    public static partial void SandboxStartFailed(ILogger logger, double elapsedMs, string exceptionType, Exception exception);

    [LoggerMessage(EventId = 3, EventName = "AssetVerificationFailed", Level = LogLevel.Error, Message = "Asset verification failed for {FilePath}")]
    public static partial void AssetVerificationFailed(ILogger logger, string filePath, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "RunEndedByLimit", Level = LogLevel.Warning, Message = "A run was ended by its {Limit} limit after {ElapsedMs:0.0} ms (sandbox lost: {SandboxLost})")]
    public static partial void RunEndedByLimit(ILogger logger, SandboxLimit limit, double elapsedMs, bool sandboxLost);

    [LoggerMessage(EventId = 5, EventName = "SandboxFaulted", Level = LogLevel.Warning, Message = "A sandbox faulted and can run nothing more ({Limit}); it will be discarded")]
    public static partial void SandboxFaulted(ILogger logger, SandboxLimit limit);

    // The fault's reason can quote the engine's error text, which script in the sandbox may have chosen: Debug only.
    [LoggerMessage(EventId = 6, EventName = "SandboxFaultReason", Level = LogLevel.Debug, Message = "Why the sandbox faulted: {Reason}")]
    public static partial void SandboxFaultReason(ILogger logger, string reason);

    [LoggerMessage(EventId = 7, EventName = "PoolDiscardedFaultedSandbox", Level = LogLevel.Warning, Message = "The pool discarded a faulted sandbox instead of handing it out")]
    public static partial void PoolDiscardedFaultedSandbox(ILogger logger);

    [LoggerMessage(EventId = 8, EventName = "PoolSessionSandboxReplaced", Level = LogLevel.Information, Message = "A session lost its sandbox; its next call starts over in a new one")]
    public static partial void PoolSessionSandboxReplaced(ILogger logger);

    [LoggerMessage(EventId = 9, EventName = "PoolExhausted", Level = LogLevel.Warning, Message = "The pool is full ({MaxSandboxes} sandboxes alive, none ready): a call waits for one to be freed")]
    public static partial void PoolExhausted(ILogger logger, int maxSandboxes);

    [LoggerMessage(EventId = 10, EventName = "PoolWaitEnded", Level = LogLevel.Information, Message = "A call waited {ElapsedMs:0.0} ms for a sandbox from the full pool")]
    public static partial void PoolWaitEnded(ILogger logger, double elapsedMs);

    [LoggerMessage(EventId = 11, EventName = "PoolStartFailed", Level = LogLevel.Error, Message = "The pool failed to start a sandbox ({Failures} in a row); it retries in {RetryMs:0} ms")]
    public static partial void PoolStartFailed(ILogger logger, int failures, double retryMs, Exception exception);

    [LoggerMessage(EventId = 13, EventName = "StartupImageFromCache", Level = LogLevel.Information, Message = "Sandboxes start from the start-up image kept in {Folder}")]
    public static partial void StartupImageFromCache(ILogger logger, string folder);

    [LoggerMessage(EventId = 14, EventName = "StartupImageBooted", Level = LogLevel.Information, Message = "Booted Pyodide to make the start-up image (cache folder {Folder}: {Reason})")]
    public static partial void StartupImageBooted(ILogger logger, string folder, string reason);

    [LoggerMessage(EventId = 15, EventName = "StartupCacheUnusable", Level = LogLevel.Warning, Message = "The start-up cache in {Folder} cannot be used ({Problem}): every new process boots Pyodide, which takes seconds")]
    public static partial void StartupCacheUnusable(ILogger logger, string folder, string problem);

    [LoggerMessage(EventId = 16, EventName = "SandboxReset", Level = LogLevel.Debug, Message = "A used sandbox was reset ({Kind}) in {ElapsedMs:0.00} ms")]
    public static partial void SandboxReset(ILogger logger, string kind, double elapsedMs);

    [LoggerMessage(EventId = 17, EventName = "ResetInPlaceRefused", Level = LogLevel.Debug, Message = "A sandbox cannot be reset in place: {Reason}")]
    public static partial void ResetInPlaceRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 12, EventName = "RunEnded", Level = LogLevel.Debug, Message = "A run ended in {ElapsedMs:0.0} ms after waiting {WaitMs:0.0} ms: {Outcome}")]
    public static partial void RunEnded(ILogger logger, double elapsedMs, double waitMs, string outcome);
}
