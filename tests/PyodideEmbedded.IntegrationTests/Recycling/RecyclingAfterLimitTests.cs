namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Resets after a run that hit a limit. A soft stop (time-out) and a MemoryError leave the interpreter intact: the
/// reset is in place and B is clean. A hard stop faults the sandbox: the reset starts a new isolate that works.
/// Each test makes its own sandbox (the options differ, and the limits break them).
/// </summary>
[Collection(nameof(LimitsCollection))]
public sealed class RecyclingAfterLimitTests
{
    private const string Probe = "import builtins, sys\n['secret_a' in globals(), hasattr(builtins, 'EVIL_A'), 'evil_a' in sys.modules, 1 + 1]";
    private const string CleanProbe = "[false,false,false,2]";
    private const string Poison = "import builtins, sys\nsecret_a = 'tenant A'\nbuiltins.EVIL_A = 1\nsys.modules['evil_a'] = sys\n";

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterSoftTimeout_ResetIsInPlace_AndTenantBIsClean()
    {
        await using var tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { InterruptGracePeriod = TimeSpan.FromSeconds(2) });

        var a = await tenant.Sandbox.RunAsync(Poison + "while True: pass", new RunInputs { Timeout = TimeSpan.FromMilliseconds(300) });
        Assert.True(a.TimedOut, a.Error?.Summary);
        Assert.False(a.SandboxLost);

        await tenant.ResetAsync(ResetPath.InPlace);
        Same.Json(CleanProbe, await tenant.ValueAsync(Probe));
        // No stop left pending from A's time-out: B's longer run is not interrupted.
        Assert.True((await tenant.Sandbox.RunAsync("sum(range(3_000_000))", new RunInputs { Timeout = TimeSpan.FromSeconds(20) })).Succeeded);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterTenantAIgnoredSigint_TenantBIsStillStoppedSoftly()
    {
        // The soft stop is a SIGINT inside Python: A's handler (in Python's memory) must not survive the reset.
        await using var tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { InterruptGracePeriod = TimeSpan.FromSeconds(2) });
        await tenant.PoisonAsync("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)");
        await tenant.ResetAsync(ResetPath.InPlace);

        var b = await tenant.Sandbox.RunAsync("while True: pass", new RunInputs { Timeout = TimeSpan.FromMilliseconds(300) });
        Assert.True(b.TimedOut, b.Error?.Summary);
        Assert.False(b.SandboxLost, "B's run needed a hard stop: A's SIGINT handler survived the reset");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterOutputPastTheCap_ResetIsInPlace_AndTenantBsOutputIsItsOwn()
    {
        await using var tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { MaxOutputBytes = 4096 });
        var a = await tenant.Sandbox.RunAsync(Poison + "import sys\nprint('A' * 10000)\nsys.stderr.write('A' * 10000)\nprint('TENANT-A', end='')");
        Assert.False(a.SandboxLost);

        await tenant.ResetAsync(ResetPath.InPlace);
        var b = await tenant.Sandbox.RunAsync("print('b', end='')\n" + Probe);
        Same.Json(CleanProbe, b.Value!.Value);
        Assert.Equal("b", b.Stdout);
        Assert.Equal("", b.Stderr);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterMemoryErrorAtTheCap_ResetIsInPlace_AndTenantBIsCleanAndHasItsMemory()
    {
        await using var tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { MemoryLimitBytes = 256L * 1024 * 1024 });

        var a = await tenant.Sandbox.RunAsync(Poison + "chunks = []\nwhile True: chunks.append(bytearray(1 << 20))");
        Assert.Equal("MemoryError", a.Error?.TypeName);
        Assert.False(a.SandboxLost);

        await tenant.ResetAsync(ResetPath.InPlace);
        Same.Json(CleanProbe, await tenant.ValueAsync(Probe));
        // The pages A grew were dropped: B can allocate most of the cap again, and hit the same MemoryError.
        Assert.Equal(150 << 20, (await tenant.ValueAsync("len(bytearray(150 << 20))")).GetInt32());
        var again = await tenant.Sandbox.RunAsync("chunks = []\nwhile True: chunks.append(bytearray(1 << 20))");
        Assert.Equal("MemoryError", again.Error?.TypeName);
        await tenant.ResetAsync(ResetPath.InPlace);
        Same.Json(CleanProbe, await tenant.ValueAsync(Probe));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterHardStop_FaultedSandbox_IsResetOntoANewIsolate_AndWorks()
    {
        await using var tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { Timeout = TimeSpan.FromMilliseconds(500) });

        // Swallows every soft stop: only a hard stop ends it, and that loses the sandbox.
        var a = await tenant.Sandbox.RunAsync(Poison + "while True:\n    try:\n        while True: pass\n    except KeyboardInterrupt:\n        pass");
        Assert.True(a.TimedOut, a.Error?.Summary);
        Assert.True(a.SandboxLost);
        Assert.True(tenant.Sandbox.IsFaulted);

        await tenant.ResetAsync(ResetPath.NewIsolate);
        Same.Json(CleanProbe, await tenant.ValueAsync(Probe));
        // And the new isolate recycles in place like any other.
        await tenant.PoisonAsync(Poison);
        await tenant.ResetAsync(ResetPath.InPlace);
        Same.Json(CleanProbe, await tenant.ValueAsync(Probe));
    }
}
