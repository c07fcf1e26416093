using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Where a sandbox or a pool reports what happens: its logger (from <see cref="SandboxOptions.LoggerFactory"/>), its
/// metrics (from <see cref="SandboxOptions.MeterFactory"/>) and the process-wide activity source.
/// </summary>
internal sealed class SandboxTelemetry
{
    public const string ActivitySourceName = "PyodideEmbedded";

    /// <summary>The GenAI semantic conventions' name for a tool the agent runs (<c>execute_tool</c>).</summary>
    private const string ExecuteTool = "execute_tool";
    private const string ToolName = "python";

    private static readonly ActivitySource s_activities = new(ActivitySourceName, ThisAssembly.Version);

    private SandboxTelemetry(ILogger logger, SandboxMetrics metrics)
    {
        Logger = logger;
        Metrics = metrics;
    }

    public ILogger Logger { get; }

    public SandboxMetrics Metrics { get; }

    public static SandboxTelemetry For(SandboxOptions options) =>
        new((options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger(SandboxLog.Category), SandboxMetrics.For(options.MeterFactory));

    /// <summary>Opens the span of one run (null when nobody listens). Its parent is the caller's current activity.</summary>
    public static Activity? StartRun(string mode)
    {
        var activity = s_activities.StartActivity(ExecuteTool + " " + ToolName, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", ExecuteTool);
            activity.SetTag("gen_ai.tool.name", ToolName);
            activity.SetTag("gen_ai.tool.type", "function");
            activity.SetTag("pyodide.run.mode", mode);
        }

        return activity;
    }

    /// <summary>Records a run that produced a result: metrics, the span's outcome, and a log event for a limit.</summary>
    public void RunEnded(SandboxResult result, Activity? activity)
    {
        var outcome = result.Limit != SandboxLimit.None ? "limit" : result.Error is null ? "success" : "python_error";
        var limit = LimitTag(result.Limit);
        Metrics.Runs.Add(1, new("pyodide.run.outcome", outcome), new("pyodide.limit", limit));
        Metrics.RunDuration.Record(result.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("pyodide.run.outcome", outcome));
        if (result.Limit != SandboxLimit.None)
        {
            Metrics.Limits.Add(1, new KeyValuePair<string, object?>("pyodide.limit", limit));
            SandboxLog.RunEndedByLimit(Logger, result.Limit, result.Elapsed.TotalMilliseconds, result.SandboxLost);
        }

        SandboxLog.RunEnded(Logger, result.Elapsed.TotalMilliseconds, result.SandboxWait.TotalMilliseconds, outcome);
        if (activity is not null)
        {
            activity.SetTag("pyodide.run.outcome", outcome);
            activity.SetTag("pyodide.wait.duration", result.SandboxWait.TotalSeconds);
            if (result.Limit != SandboxLimit.None)
            {
                activity.SetTag("pyodide.limit", limit);
            }

            if (result.SandboxLost)
            {
                activity.SetTag("pyodide.sandbox.lost", true);
            }

            if (result.Error is { } error)
            {
                // The exception's type only: its message and traceback can quote the user's data.
                activity.SetTag("error.type", error.TypeName);
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }
    }

    /// <summary>Records a run call that ended in an exception instead of a result (cancelled, disposed, no sandbox).</summary>
    public void RunFailed(Exception exception, Activity? activity)
    {
        Metrics.Runs.Add(1, new("pyodide.run.outcome", "exception"), new("pyodide.limit", "none"));
        activity?.SetTag("error.type", exception.GetType().FullName);
        activity?.SetStatus(ActivityStatusCode.Error);
    }

    public void SandboxStarted(TimeSpan elapsed)
    {
        Metrics.SandboxStarts.Add(1, new KeyValuePair<string, object?>("pyodide.start.outcome", "success"));
        Metrics.StartDuration.Record(elapsed.TotalSeconds);
        SandboxLog.SandboxStarted(Logger, elapsed.TotalMilliseconds);
    }

    /// <summary>Once per process and asset folder: where the memory image came from, and why not from disk.</summary>
    public void StartupImage(StartupCache cache)
    {
        if (cache.TakeOriginReport() is not { } origin)
        {
            return;
        }

        if (origin.Folder is null)
        {
            SandboxLog.StartupImageBooted(Logger, "(none)", "StartupCachePath is null");
        }
        else if (origin.FromDisk)
        {
            SandboxLog.StartupImageFromCache(Logger, origin.Folder);
        }
        else if (origin.Problem is { } problem)
        {
            SandboxLog.StartupCacheUnusable(Logger, origin.Folder, problem);
        }
        else
        {
            SandboxLog.StartupImageBooted(Logger, origin.Folder, origin.MissReason ?? "missing");
        }
    }

    public void SandboxStartFailed(TimeSpan elapsed, Exception exception)
    {
        if (exception is OperationCanceledException)
        {
            return; // the caller's choice, not a failure
        }

        Metrics.SandboxStarts.Add(1, new KeyValuePair<string, object?>("pyodide.start.outcome", "failure"));
        if (exception is SandboxAssetException asset)
        {
            SandboxLog.AssetVerificationFailed(Logger, asset.FilePath, asset);
        }
        else
        {
            SandboxLog.SandboxStartFailed(Logger, elapsed.TotalMilliseconds, exception.GetType().Name, exception);
        }
    }

    /// <summary>A used sandbox was reset (<c>in_place</c>, <c>new_isolate</c>) or, in a pool, <c>discarded</c> instead.</summary>
    public void SandboxReset(string kind, TimeSpan elapsed)
    {
        var tag = new KeyValuePair<string, object?>("pyodide.reset.kind", kind);
        Metrics.Resets.Add(1, tag);
        Metrics.ResetDuration.Record(elapsed.TotalSeconds, tag);
        SandboxLog.SandboxReset(Logger, kind, elapsed.TotalMilliseconds);
    }

    /// <summary>Why a sandbox could not be reset in place (what its code reached).</summary>
    public void ResetInPlaceRefused(string reason) => SandboxLog.ResetInPlaceRefused(Logger, reason);

    public void SandboxFaulted(SandboxLimit limit, string? reason)
    {
        SandboxLog.SandboxFaulted(Logger, limit);
        if (reason is not null)
        {
            SandboxLog.SandboxFaultReason(Logger, reason);
        }
    }

    /// <summary>The <c>pyodide.limit</c> tag: the names the CLI's replies use.</summary>
    public static string LimitTag(SandboxLimit limit) => JsonNamingPolicy.SnakeCaseLower.ConvertName(limit.ToString());
}
