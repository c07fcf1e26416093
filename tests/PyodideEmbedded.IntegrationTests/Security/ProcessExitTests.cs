using System.Diagnostics;
using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 7: ways to end a process end at most the run (or the sandbox); the host process survives.</summary>
public sealed class ProcessExitTests
{
    private static readonly int HostPid = Environment.ProcessId;

    private static async Task AssertExitContainedAsync(PythonSandbox sandbox, string code)
    {
        var started = Process.GetCurrentProcess().StartTime;
        var result = await RunAttackAsync(sandbox, code);

        AssertRefused(result, code);
        Assert.Equal(HostPid, Environment.ProcessId);
        Assert.Equal(started, Process.GetCurrentProcess().StartTime);
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SysExitAndRaiseSystemExit_EndOnlyTheRun()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        const string sysExit = "import sys\nsys.exit(3)";
        var first = await RunAttackAsync(sandbox, sysExit);
        AssertRefused(first, sysExit);
        Assert.Equal("SystemExit", first.Error!.TypeName);
        Assert.False(sandbox.IsFaulted);

        const string raise = "x = 5\nraise SystemExit";
        var second = await RunAttackAsync(sandbox, raise);
        AssertRefused(second, raise);
        Assert.Equal(5, (await RunValueAsync(sandbox, "x")).GetInt32()); // state kept: only the run ended
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OsUnderscoreExit_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        await AssertExitContainedAsync(sandbox, "import os\nos._exit(1)");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OsAbort_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        await AssertExitContainedAsync(sandbox, "import os\nos.abort()");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OsKillSelfWithSigkill_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        await AssertExitContainedAsync(sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EmscriptenExitAndQuit_FromJs_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js, pyodide_js
            m = pyodide_js._module
            for name in ['quit', 'exit', 'abort']:
                f = getattr(js, name, None)
                if f is not None and callable(f):
                    f(1)
            m._exit(7)
            """;
        await AssertExitContainedAsync(sandbox, code);

        await using var second = await CreateAsync(allowJsInterop: true);
        await AssertExitContainedAsync(second, "import pyodide_js\npyodide_js._module._emscripten_force_exit(9)");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task BlockingAtomicsWait_IsStoppedAtTheTimeLimit()
    {
        // Atomics.wait blocks the isolate's thread in native code, out of reach of the soft interrupt.
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { Timeout = TimeSpan.FromSeconds(2) });
        const string code = "import js\njs.eval('Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)')";
        var clock = Stopwatch.StartNew();
        var result = await RunAttackAsync(sandbox, code);

        Assert.True(result.TimedOut, $"Expected a timeout, got {result.Error?.Summary}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"The stop took {clock.Elapsed}");
        await AssertStillAnswersAsync(sandbox);
    }
}
