using System.Diagnostics;
using System.Diagnostics.Metrics;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>The door's own checks, called as Bootstrap.js would call it, without a sandbox.</summary>
public sealed class FunctionBridgeTests
{
    private static FunctionBridge Bridge(SandboxFunctions functions, int maxJsonBytes = 1024, IMeterFactory? meters = null) =>
        new(functions.Freeze(), maxJsonBytes, SandboxMetrics.For(meters));

    private static readonly SandboxFunctions Add = new SandboxFunctions { MaxCallsPerRun = 3 }.Add("add", (long a, long b) => a + b);

    [Fact]
    public void Call_DuringARun_ReturnsTheValue()
    {
        var bridge = Bridge(Add);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        Assert.Equal("""{"value":5}""", bridge.Call("add", """{"a":2,"b":3}"""));
    }

    [Fact]
    public void Calls_AreCountedByFunctionAndOutcome_RefusalsAreNot()
    {
        using var telemetry = new TelemetryCapture();
        using var calls = telemetry.Collect<long>("pyodide.host_function.calls");
        using var durations = telemetry.Collect<double>("pyodide.host_function.duration");
        var functions = new SandboxFunctions().Add("add", (long a, long b) => a + b).Add("fail", new Func<long>(() => throw new InvalidOperationException("secret")));
        var bridge = Bridge(functions, meters: telemetry);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        bridge.Call("add", """{"a":2,"b":3}""");
        bridge.Call("fail", "{}");
        bridge.Call("nope", "{}");

        string[] outcomes = [.. calls.GetMeasurementSnapshot().Select(m => $"{m.Tags["pyodide.host_function.name"]}:{m.Tags["pyodide.host_function.outcome"]}")];
        Assert.Equal(["add:success", "fail:failed"], outcomes);
        Assert.Equal(2, durations.GetMeasurementSnapshot().Count);
    }

    [Fact]
    public void Call_BeforeAnyRun_OrAfterTheRunEnded_IsRefused()
    {
        var bridge = Bridge(Add);
        using var stop = new ManualResetEvent(false);

        Assert.Contains("only while the sandbox runs code", bridge.Call("add", """{"a":2,"b":3}"""), StringComparison.Ordinal);
        bridge.BeginRun(stop);
        bridge.EndRun();
        Assert.Contains("only while the sandbox runs code", bridge.Call("add", """{"a":2,"b":3}"""), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_FromAnotherThreadDuringARun_IsRefused()
    {
        var bridge = Bridge(Add);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        var reply = await Task.Factory.StartNew(() => bridge.Call("add", """{"a":2,"b":3}"""), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        Assert.Contains("only while the sandbox runs code", reply, StringComparison.Ordinal);
    }

    [Fact]
    public void Calls_PastTheCap_AreRefused_UntilTheNextRun()
    {
        var bridge = Bridge(Add);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);
        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith("{\"value\"", bridge.Call("add", """{"a":1,"b":1}"""), StringComparison.Ordinal);
        }

        Assert.Contains("more than 3 host function calls", bridge.Call("add", """{"a":1,"b":1}"""), StringComparison.Ordinal);
        bridge.BeginRun(stop);
        Assert.Equal("""{"value":2}""", bridge.Call("add", """{"a":1,"b":1}"""));
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("Call")]
    [InlineData("ToString")]
    [InlineData("ADD")]
    public void Call_NameNotGranted_IsRefused(string name)
    {
        var bridge = Bridge(Add);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        Assert.Equal("""{"error":"no such host function","kind":"refused"}""", bridge.Call(name, "{}"));
    }

    [Fact]
    public void Call_ArgumentsOverTheCap_AreRefusedUnread()
    {
        var called = false;
        var bridge = Bridge(new SandboxFunctions().Add("f", (string s) => called = true), maxJsonBytes: 100);
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        Assert.Contains("larger than 100 bytes", bridge.Call("f", "{\"s\":\"" + new string('é', 60) + "\"}"), StringComparison.Ordinal);
        Assert.False(called);
    }

    [Fact]
    public void Call_Throwing_GivesAGenericMessage_UnlessMeantForTheSandbox()
    {
        var bridge = Bridge(new SandboxFunctions()
            .Add("leaky", new Func<long>(() => throw new UnauthorizedAccessException("/etc/shadow")))
            .Add("meant", new Func<long>(() => throw new SandboxFunctionException("try again later"))));
        using var stop = new ManualResetEvent(false);
        bridge.BeginRun(stop);

        Assert.Equal("""{"error":"the host function leaky() failed","kind":"failed"}""", bridge.Call("leaky", "{}"));
        Assert.Equal("""{"error":"try again later","kind":"failed"}""", bridge.Call("meant", "{}"));
    }

    [Fact]
    public async Task Stop_DuringACall_ReturnsNullAtOnce_AndCancelsTheFunctionsToken()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bridge = Bridge(new SandboxFunctions().Add("wait", async (CancellationToken token) =>
        {
            using var _ = token.Register(cancelled.SetResult);
            await new TaskCompletionSource().Task; // ignores its token: never returns
        }));
        using var stop = new ManualResetEvent(false);
        var clock = Stopwatch.StartNew();
        var stoppedAt = TimeSpan.Zero;

        // A dedicated thread sets the stop, so a busy thread pool (the suite runs in parallel) cannot delay
        // it; what is timed is stop -> reply, the promise under test.
        var stopper = new Thread(() =>
        {
            Thread.Sleep(200);
            stoppedAt = clock.Elapsed;
            stop.Set();
        });
        var reply = await Task.Factory.StartNew(
            () =>
            {
                bridge.BeginRun(stop);
                stopper.Start();
                return bridge.Call("wait", "{}");
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        var answeredAt = clock.Elapsed;
        stopper.Join();

        Assert.Null(reply);
        Assert.True(answeredAt >= stoppedAt, "the call returned before the stop was set");
        Assert.InRange(answeredAt - stoppedAt, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Bridge_ExposesOnlyCallToScript()
    {
        var members = typeof(FunctionBridge).GetMembers()
            .Where(static m => m.GetCustomAttributes(typeof(Microsoft.ClearScript.ScriptMemberAttribute), false).Length > 0)
            .Select(static m => m.Name);

        Assert.Equal(["Call"], members);
        Assert.NotEmpty(typeof(FunctionBridge).GetCustomAttributes(typeof(Microsoft.ClearScript.NoDefaultScriptAccessAttribute), false));
    }
}
