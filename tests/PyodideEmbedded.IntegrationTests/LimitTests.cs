using System.Diagnostics;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>Time, memory, output and input limits. Each test makes its own sandbox: they break them.</summary>
[Collection(nameof(LimitsCollection))]
public sealed class LimitTests
{
    private static readonly SandboxOptions Options = TestOptions.Default with { Timeout = TimeSpan.FromMilliseconds(500) };

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("while True: pass")]
    [InlineData("import time\ntime.sleep(3600)")]
    public async Task RunAsync_PythonLevelRunaway_TimesOutAndKeepsState(string code)
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Options with { InterruptGracePeriod = TimeSpan.FromSeconds(2) });
        await sandbox.RunAsync("kept = 'yes'");

        var clock = Stopwatch.StartNew();
        var result = await sandbox.RunAsync(code);

        Assert.True(result.TimedOut);
        Assert.Equal("TimeoutError", result.Error!.TypeName);
        Assert.Contains("500 ms", result.Error.Message, StringComparison.Ordinal);
        Assert.False(result.SandboxLost);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3));
        Assert.Equal("yes", (await sandbox.RunAsync("kept")).Value!.Value.GetString());
        var limit = Assert.IsType<SandboxLimitException>(Record.Exception(() => result.ThrowIfError()));
        Assert.Equal(SandboxLimit.Time, limit.Limit);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_ShorterPerRunTimeout_StopsThatRunOnly()
    {
        // A generous grace period: under CI load Python may take longer than 30 ms to see the soft stop.
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { InterruptGracePeriod = TimeSpan.FromSeconds(2) });

        var clock = Stopwatch.StartNew();
        var stopped = await sandbox.RunAsync("while True: pass", new RunInputs { Timeout = TimeSpan.FromMilliseconds(200) });
        var elapsed = clock.Elapsed;
        var next = await sandbox.RunAsync("import time\ntime.sleep(0.5)\n'slept'");

        Assert.Equal(SandboxLimit.Time, stopped.Limit);
        Assert.Contains("200 ms", stopped.Error!.Message, StringComparison.Ordinal);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
        Assert.Equal("slept", next.Value!.Value.GetString());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(31_000)]
    public async Task RunAsync_PerRunTimeoutOutOfRange_IsRefusedBeforeRunning(int milliseconds)
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => sandbox.RunAsync("ran = 1", new RunInputs { Timeout = TimeSpan.FromMilliseconds(milliseconds) }));
        Assert.Equal("NameError", (await sandbox.RunAsync("ran")).Error!.TypeName);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_RepeatedSoftInterrupts_AreNeverLost()
    {
        // Python's check reads the interrupt flag and clears it in two steps; a stop that landed
        // between them was lost (about one in ten), and the sandbox with it.
        await using var sandbox = await PythonSandbox.CreateAsync(Options with { Timeout = TimeSpan.FromMilliseconds(300), InterruptGracePeriod = TimeSpan.FromSeconds(2) });
        for (var i = 0; i < 20; i++)
        {
            var result = await sandbox.RunAsync("while True: pass");
            Assert.True(result.TimedOut, result.Error?.Summary);
            Assert.False(result.SandboxLost, $"run {i} lost the sandbox");
        }
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("setprofile", "KeyboardInterrupt")]
    [InlineData("setprofile", "ValueError('from the hook')")]
    [InlineData("settrace", "KeyboardInterrupt")]
    public async Task RunAsync_HookRaisingInsideTheRunner_FailsTheRunOnly(string setter, string raised)
    {
        // A trace or profile function left by user code runs in the runner's own code after the user's
        // code ends, outside its try (the runner functions named here): the exception used to reach
        // the host, which discarded the sandbox. A stop landing at that moment takes the same path.
        await using var sandbox = await PythonSandbox.CreateAsync(Options);
        var code = "import sys\n"
            + "def hook(frame, event, arg):\n"
            + "    if frame.f_code.co_name in ('end_run', '_flush_streams', '_envelope'):\n"
            + $"        raise {raised}\n"
            + "    return hook\n"
            + $"sys.{setter}(hook)\n"
            + "print('printed before', end='')\n"
            + "1";

        var result = await sandbox.RunAsync(code);

        Assert.False(result.SandboxLost, result.Error?.Summary);
        Assert.Equal("printed before", result.Stdout);
        Assert.Equal(raised.StartsWith("ValueError", StringComparison.Ordinal) ? "ValueError" : "KeyboardInterrupt", result.Error?.TypeName);
        Assert.Equal(9, (await sandbox.RunAsync("4 + 5")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_TraceAndProfileFunctions_LastUntilTheRunEnds()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Options);

        var set = await sandbox.RunAsync("import sys\nsys.settrace(lambda *a: None)\nsys.setprofile(lambda *a: None)\n[sys.gettrace() is None, sys.getprofile() is None]");
        var next = await sandbox.RunAsync("import sys\n[sys.gettrace() is None, sys.getprofile() is None]");

        Assert.Equal([false, false], set.Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Equal([true, true], next.Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("while True: pass")]
    [InlineData("sum(range(10**12))")]
    [InlineData("10**10**8")]
    [InlineData("import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')")]
    [InlineData("import time\ntime.sleep(3600)")]
    [InlineData("import asyncio\nwhile True: await asyncio.sleep(0)")]
    [InlineData("import asyncio\nawait asyncio.Event().wait()")]
    [InlineData("try:\n    while True: pass\nexcept KeyboardInterrupt:\n    while True: pass")]
    public async Task RunAsync_Runaway_ReturnsTimeoutWithinBudget_AndNextRunIsAnswered(string code)
    {
        var sandbox = await PythonSandbox.CreateAsync(Options);
        try
        {
            var clock = Stopwatch.StartNew();
            var result = await sandbox.RunAsync(code);

            Assert.True(result.TimedOut, result.Error?.Summary);
            Assert.Equal("TimeoutError", result.Error!.TypeName);
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromSeconds(4)); // generous: CI jitter
            if (result.SandboxLost)
            {
                Assert.True(sandbox.IsFaulted);
                await Assert.ThrowsAsync<SandboxFaultedException>(() => sandbox.RunAsync("1"));
                await sandbox.DisposeAsync();
                sandbox = await PythonSandbox.CreateAsync(Options);
            }

            Assert.Equal(2, (await sandbox.RunAsync("1 + 1")).Value!.Value.GetInt32());
        }
        finally
        {
            await sandbox.DisposeAsync();
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_CallerCancels_ThrowsOperationCanceled()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sandbox.RunAsync("while True: pass", cancel.Token));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task DisposeAsync_DuringARun_StopsItAndFreesTheSandbox()
    {
        var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        var running = sandbox.RunAsync("while True: pass");
        await Task.Delay(200);

        var clock = Stopwatch.StartNew();
        await sandbox.DisposeAsync();

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        // Disposing what it was running is not a result for the caller of the run.
        await Assert.ThrowsAsync<ObjectDisposedException>(() => running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sandbox.RunAsync("1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task DisposeAsync_WithACallWaitingForTheGate_TheWaiterGetsObjectDisposed()
    {
        var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        var running = sandbox.RunAsync("while True: pass");
        await Task.Delay(200);
        var waiting = sandbox.RunAsync("1");

        await sandbox.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("x = bytearray(1 << 30)", SandboxLimit.Memory)]
    [InlineData("x = b'a' * (1 << 30)", SandboxLimit.Memory)]
    [InlineData("chunks = []\nwhile True: chunks.append(b'x' * (1 << 20))", SandboxLimit.Memory)]
    // 4 GB of pointers cannot exist in 32-bit WebAssembly at all: Python refuses it before asking for memory.
    [InlineData("x = [0] * 10**9", SandboxLimit.None)]
    public async Task RunAsync_PythonAllocationPastTheCap_RaisesMemoryError_AndSandboxKeepsServing(string code, SandboxLimit limit)
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { MemoryLimitBytes = 128L * 1024 * 1024 });
        await sandbox.RunAsync("kept = 7");

        var result = await sandbox.RunAsync(code);

        Assert.Equal("MemoryError", result.Error!.TypeName);
        Assert.Equal(limit, result.Limit);
        Assert.False(result.SandboxLost);
        await sandbox.RunAsync("chunks = x = None\nimport gc; gc.collect()");
        Assert.Equal(7, (await sandbox.RunAsync("kept")).Value!.Value.GetInt32());
        Assert.Equal(10_000_000, (await sandbox.RunAsync("len(bytearray(10_000_000))")).Value!.Value.GetInt32());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("raise MemoryError('mine')")]
    [InlineData("raise TimeoutError('mine')")]
    [InlineData("raise KeyboardInterrupt")]
    public async Task RunAsync_CodeRaisesALimitLikeException_IsTheCodesOwnErrorNotALimit(string code)
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        var result = await sandbox.RunAsync(code);

        Assert.Equal(SandboxLimit.None, result.Limit);
        Assert.False(result.TimedOut);
        Assert.IsType<PythonException>(Record.Exception(() => result.ThrowIfError()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_MemoryWithinTheCap_IsUsable()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { MemoryLimitBytes = 256L * 1024 * 1024 });

        var result = await sandbox.RunAsync("len(bytearray(150 * 1024 * 1024))");

        Assert.True(result.Succeeded, result.Error?.Summary);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_JsHeapPastTheCap_IsReportedAndSandboxIsReplaceable()
    {
        var options = TestOptions.Default with { AllowJsInterop = true, JsHeapLimitBytes = 96L * 1024 * 1024 };
        await using var sandbox = await PythonSandbox.CreateAsync(options);

        var result = await sandbox.RunAsync("import js\njs.Function.new('let a = []; while (true) a.push(new Array(1e5).fill(1));')()");

        Assert.Equal("MemoryError", result.Error!.TypeName);
        Assert.Equal(SandboxLimit.JsHeap, result.Limit);
        Assert.Contains("JavaScript heap", result.Error.Message, StringComparison.Ordinal);
        Assert.True(result.SandboxLost);
        Assert.True(sandbox.IsFaulted);
        await using var replacement = await PythonSandbox.CreateAsync(options);
        Assert.Equal(2, (await replacement.RunAsync("1 + 1")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_DeepRecursion_RaisesRecursionError()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        var result = await sandbox.RunAsync("def f(n): return f(n + 1)\nf(0)");

        Assert.Equal("RecursionError", result.Error!.TypeName);
        Assert.Equal(2, (await sandbox.RunAsync("1 + 1")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_OutputFlood_IsTruncatedAtTheCap()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { MaxOutputBytes = 10_000 });

        var result = await sandbox.RunAsync("import sys\nfor i in range(100_000): print('x' * 100)\nsys.stderr.write('e' * 50_000)\n'v' * 50_000");

        Assert.True(result.Succeeded);
        Assert.True(result.StdoutTruncated);
        Assert.Equal(10_000, result.Stdout.Length);
        Assert.True(result.StderrTruncated);
        Assert.Equal(10_000, result.Stderr.Length);
        Assert.True(result.ValueTruncated);
        Assert.True(result.ValueIsRepr);
        Assert.InRange(result.Value!.Value.GetString()!.Length, 9_000, 10_000); // the cap is on the JSON text, quotes included
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_CodeOverTheCap_IsRefusedWithoutRunning()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { MaxCodeBytes = 1024 });

        var result = await sandbox.RunAsync("refused = 1\n" + new string('#', 2000));

        Assert.Equal(SandboxLimit.CodeSize, result.Limit);
        Assert.Equal("ValueError", result.Error!.TypeName);
        Assert.IsType<SandboxLimitException>(Record.Exception(() => result.ThrowIfError()));
        Assert.Equal("NameError", (await sandbox.RunAsync("refused")).Error!.TypeName);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_RunawayAndNormalSandboxes_DoNotAffectEachOther()
    {
        await using var runaway = await PythonSandbox.CreateAsync(Options with { Timeout = TimeSpan.FromSeconds(3) });
        await using var normal = await PythonSandbox.CreateAsync(TestOptions.Default);

        var spinning = runaway.RunAsync("while True: pass");
        var clock = Stopwatch.StartNew();
        var answers = new List<int>();
        for (var i = 0; i < 20; i++)
        {
            answers.Add((await normal.RunAsync($"{i} + 1")).Value!.Value.GetInt32());
        }

        Assert.Equal(Enumerable.Range(1, 20), answers);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2.5)); // answered while the other spins
        Assert.True((await spinning).TimedOut);
    }
}
