using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>The pool's fresh runs recycle their sandbox in place; each run still sees none of the runs before it.</summary>
public sealed class PoolRecyclingTests
{
    // One sandbox at most: every run goes through the same one, or through its replacement.
    private static SandboxPoolOptions Options() => new() { Sandbox = TestOptions.Default, MinReady = 1, MaxSandboxes = 1 };

    private const string Run = """
        import builtins, sys, os
        seen = [n for n in list(globals()) + dir(builtins) + list(sys.modules) + list(os.environ) if 'tenant_' in n.lower()]
        globals()[f'tenant_{i}'] = i
        setattr(builtins, f'tenant_b{i}', i)
        sys.modules[f'tenant_m{i}'] = sys
        os.environ[f'TENANT_{i}'] = '1'
        seen
        """;

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TwentySequentialFreshRuns_SeeNoEarlierRun_AndShareOneRecycledSandbox()
    {
        await using var pool = new SandboxPool(Options());
        for (var i = 0; i < 20; i++)
        {
            var result = await pool.RunAsync(Run, new RunInputs { Globals = new Dictionary<string, object?> { ["i"] = i } });
            Assert.True(result.Succeeded, result.Error?.Summary);
            Assert.True(result.Value!.Value.GetArrayLength() == 0, $"Run {i} saw an earlier run: {result.Value.Value.GetRawText()}");
        }

        // Behaviour: the one sandbox the pool holds is the one that served all 20 runs, reset in place after each.
        await using var sandbox = await pool.TakeAsync();
        Assert.Equal((20, 0), RecyclingSandbox.ResetsOf(sandbox));
        var taken = await sandbox.RunAsync(Run, new RunInputs { Globals = new Dictionary<string, object?> { ["i"] = 20 } });
        Assert.True(taken.Value!.Value.GetArrayLength() == 0, $"The taken sandbox saw an earlier run: {taken.Value.Value.GetRawText()}");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FreshRunThatReachesJavaScript_IsDiscarded_AndTheNextRunIsClean()
    {
        await using var pool = new SandboxPool(Options());
        const string realm = Security.EscapeAssert.RealmWithoutImport;

        (await pool.RunAsync($"g = {realm}\ng.evilA = 1\ng.Object.prototype.evilProtoA = 1\nsecret_a = 1")).ThrowIfError();
        var next = await pool.RunAsync($"g = {realm}\n[repr(getattr(g, 'evilA', 'absent')), repr(getattr(g.Object.new(), 'evilProtoA', 'absent')), 'secret_a' in globals()]");

        Assert.True(next.Succeeded, next.Error?.Summary);
        Same.Json("""["'absent'","'absent'",false]""", next.Value!.Value);
        // The run that touched the realm was not recycled: what the pool holds now is a new sandbox, also discarded
        // after the probe (which crossed into JavaScript too), so it has never been reset in place.
        await using var sandbox = await pool.TakeAsync();
        Assert.Equal((0, 0), RecyclingSandbox.ResetsOf(sandbox));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FreshRunCancelledByTheCaller_IsRecycledInPlace_AndTheNextRunIsClean()
    {
        using var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var sandboxOptions = TestOptions.Default with { InterruptGracePeriod = TimeSpan.FromSeconds(2), LoggerFactory = factory };
        await using var pool = new SandboxPool(Options() with { Sandbox = sandboxOptions });
        await pool.WarmUpAsync(); // so the cancellation stops the run, not the wait for a sandbox to start
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        string outcome;
        try
        {
            var stopped = await pool.RunAsync("import builtins\nsecret_a = 1\nbuiltins.EVIL_A = 1\nwhile True: pass", cancel.Token);
            outcome = $"result: lost={stopped.SandboxLost} {stopped.Error?.Summary}";
        }
        catch (OperationCanceledException e)
        {
            // Either way of reporting the stop is fine for the caller; what matters is the next run.
            outcome = "threw " + e.GetType().Name;
        }

        var next = await pool.RunAsync("import builtins\n['secret_a' in globals(), hasattr(builtins, 'EVIL_A')]");
        Same.Json("[false,false]", next.Value!.Value);
        await using var sandbox = await pool.TakeAsync();
        var refusals = string.Join("; ", logs.Collector.GetSnapshot().Where(r => r.Id.Name is "ResetInPlaceRefused" or "SandboxReset").Select(r => r.Message));
        Assert.True(RecyclingSandbox.ResetsOf(sandbox) == (2, 0), $"The cancelled run's sandbox was not recycled ({outcome}); resets {RecyclingSandbox.ResetsOf(sandbox)}; log: {refusals}");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FreshRunStoppedHard_IsDiscarded_AndTheNextRunIsClean()
    {
        await using var pool = new SandboxPool(Options() with { Sandbox = TestOptions.Default with { Timeout = TimeSpan.FromMilliseconds(500) } });
        var a = await pool.RunAsync("import builtins\nbuiltins.EVIL_A = 1\nwhile True:\n    try:\n        while True: pass\n    except KeyboardInterrupt:\n        pass");
        Assert.True(a.SandboxLost, a.Error?.Summary);

        var next = await pool.RunAsync("import builtins\nhasattr(builtins, 'EVIL_A')");
        Assert.True(next.Succeeded, next.Error?.Summary);
        Assert.False(next.Value!.Value.GetBoolean());
    }
}
