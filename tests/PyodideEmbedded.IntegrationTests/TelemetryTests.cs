using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// What a pool and its sandboxes report: log events (with ids, never the user's code or output), the
/// <c>PyodideEmbedded</c> meter's instruments, the span per run, and how long a call waited for a sandbox.
/// </summary>
public sealed class TelemetryTests
{
    private const string Secret = "s3cr3t-7f1c";

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Pool_RunsLimitsAndLostSandboxes_AreMeasuredAndLoggedWithoutUserData()
    {
        using var telemetry = new TelemetryCapture();
        using var runs = telemetry.Collect<long>("pyodide.runs");
        using var limits = telemetry.Collect<long>("pyodide.run.limits");
        using var durations = telemetry.Collect<double>("pyodide.run.duration");
        using var starts = telemetry.Collect<long>("pyodide.sandbox.starts");
        using var startDurations = telemetry.Collect<double>("pyodide.sandbox.start.duration");
        using var live = telemetry.Collect<long>("pyodide.pool.live");
        using var waits = telemetry.Collect<double>("pyodide.pool.wait.duration");
        await using var pool = new SandboxPool(new SandboxPoolOptions
        {
            // A grace period no CI load outlasts: the soft time limit keeps the state, so exactly one run loses it.
            Sandbox = telemetry.Apply(TestOptions.Default with { InterruptGracePeriod = TimeSpan.FromSeconds(1) }),
            MinReady = 0,
            MaxSandboxes = 2,
        });

        var first = await pool.RunInSessionAsync("s", $"token = '{Secret}'\nprint(token)\ntoken");
        var second = await pool.RunInSessionAsync("s", "1/0");
        var soft = await pool.RunInSessionAsync("s", "while True: pass", new RunInputs { Timeout = TimeSpan.FromMilliseconds(300) });
        var hard = await pool.RunInSessionAsync("s", "sum(range(10**12))", new RunInputs { Timeout = TimeSpan.FromMilliseconds(300) });

        Assert.Equal(Secret, first.Value!.Value.GetString());
        Assert.Equal("ZeroDivisionError", second.Error!.TypeName);
        Assert.Equal(SandboxLimit.Time, soft.Limit);
        Assert.False(soft.SandboxLost);
        Assert.True(hard.SandboxLost);
        // MinReady = 0: the first call waited for its sandbox to start; the next found it in its session.
        Assert.True(first.SandboxWait > TimeSpan.FromMilliseconds(100), $"first wait {first.SandboxWait}");
        Assert.True(second.SandboxWait < first.SandboxWait, $"second wait {second.SandboxWait}");

        var outcomes = runs.GetMeasurementSnapshot().Select(m => ((string)m.Tags["pyodide.run.outcome"]!, (string)m.Tags["pyodide.limit"]!)).ToList();
        Assert.Equal([("success", "none"), ("python_error", "none"), ("limit", "time"), ("limit", "time")], outcomes);
        Assert.Equal(2, limits.GetMeasurementSnapshot().Count(m => (string)m.Tags["pyodide.limit"]! == "time"));
        Assert.Equal(4, durations.GetMeasurementSnapshot().Count);
        Assert.Contains(durations.GetMeasurementSnapshot(), m => m.Value >= 0.3);
        var start = Assert.Single(starts.GetMeasurementSnapshot());
        Assert.Equal("success", start.Tags["pyodide.start.outcome"]);
        Assert.True(Assert.Single(startDurations.GetMeasurementSnapshot()).Value > 0.05);
        Assert.Equal(0, live.GetMeasurementSnapshot().Sum(m => m.Value)); // started, then lost with the session
        Assert.Single(waits.GetMeasurementSnapshot());

        var logs = telemetry.Logs;
        var started = Assert.Single(logs, r => r.Id.Id == 1);
        Assert.Equal("SandboxStarted", started.Id.Name);
        Assert.Equal(LogLevel.Information, started.Level);
        var limitEvents = logs.Where(r => r.Id.Id == 4).ToList();
        Assert.Equal(2, limitEvents.Count);
        Assert.All(limitEvents, r => Assert.Equal(LogLevel.Warning, r.Level));
        Assert.Equal("Time", limitEvents[1].GetStructuredStateValue("Limit"));
        Assert.Equal("True", limitEvents[1].GetStructuredStateValue("SandboxLost"));
        Assert.Single(logs, r => r.Id.Name == "SandboxFaulted");
        Assert.Single(logs, r => r.Id.Name == "PoolSessionSandboxReplaced");
        // The code, its output and its value are in no record at any level, nor is the session id above Debug.
        Assert.DoesNotContain(logs, r => r.Message.Contains(Secret, StringComparison.Ordinal)
            || (r.StructuredState ?? []).Any(kv => kv.Value?.Contains(Secret, StringComparison.Ordinal) == true));
        Assert.DoesNotContain(logs, r => r.Message.Contains("while True", StringComparison.Ordinal) || r.Message.Contains("1/0", StringComparison.Ordinal));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Pool_Full_LogsTheWaitAndTheResultCountsIt()
    {
        using var telemetry = new TelemetryCapture();
        await using var pool = new SandboxPool(new SandboxPoolOptions { Sandbox = telemetry.Apply(TestOptions.Default), MinReady = 0, MaxSandboxes = 1 });
        (await pool.RunInSessionAsync("holder", "x = 1")).ThrowIfError();

        var waiting = pool.RunAsync("2");
        var clock = Stopwatch.StartNew();
        while (!telemetry.Logs.Any(r => r.Id.Name == "PoolExhausted") && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        Assert.True(await pool.EndSessionAsync("holder"));
        var result = await waiting;

        Assert.Equal(2, result.Value!.Value.GetInt32());
        Assert.True(result.SandboxWait >= TimeSpan.FromMilliseconds(200), $"waited {result.SandboxWait}");
        var exhausted = Assert.Single(telemetry.Logs, r => r.Id.Name == "PoolExhausted");
        Assert.Equal(9, exhausted.Id.Id);
        Assert.Equal("1", exhausted.GetStructuredStateValue("MaxSandboxes"));
        Assert.Single(telemetry.Logs, r => r.Id.Name == "PoolWaitEnded");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_OpensAnExecuteToolSpanUnderTheCallersActivity()
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "PyodideEmbedded",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (spans)
                {
                    spans.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        using var parent = new Activity("agent turn").Start();

        await sandbox.RunAsync("1 + 1");
        await sandbox.RunAsync("raise KeyError('" + Secret + "')");
        parent.Stop();

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(s => s.ParentSpanId == parent.SpanId).ToList();
        }

        Assert.Equal(2, mine.Count);
        Assert.All(mine, s =>
        {
            Assert.Equal("execute_tool python", s.DisplayName);
            Assert.Equal("execute_tool", s.GetTagItem("gen_ai.operation.name"));
            Assert.Equal("python", s.GetTagItem("gen_ai.tool.name"));
            Assert.Equal("sandbox", s.GetTagItem("pyodide.run.mode"));
        });
        Assert.Equal(ActivityStatusCode.Unset, mine[0].Status);
        Assert.Equal("success", mine[0].GetTagItem("pyodide.run.outcome"));
        Assert.Equal(ActivityStatusCode.Error, mine[1].Status);
        Assert.Equal("KeyError", mine[1].GetTagItem("error.type"));
        Assert.DoesNotContain(mine[1].TagObjects, t => t.Value?.ToString()?.Contains(Secret, StringComparison.Ordinal) == true);
    }
}
