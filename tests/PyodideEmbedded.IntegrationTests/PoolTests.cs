using System.Diagnostics;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>The sandbox pool: fresh sandboxes per run, sessions, limits on how many live, and disposal.</summary>
public sealed class PoolTests
{
    private static SandboxPoolOptions Options(int minReady = 1, int max = 4) =>
        new() { Sandbox = TestOptions.Default, MinReady = minReady, MaxSandboxes = max };

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_GivesEveryRunAFreshSandbox()
    {
        await using var pool = new SandboxPool(Options());

        (await pool.RunAsync("secret = 'tenant A'\nimport builtins\nbuiltins.planted = 1")).ThrowIfError();
        var next = await pool.RunAsync("import builtins\n['secret' in globals(), hasattr(builtins, 'planted')]");

        Assert.Equal([false, false], next.Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Sessions_KeepTheirStateApart()
    {
        await using var pool = new SandboxPool(Options());

        (await pool.RunInSessionAsync("alice", "x = 41")).ThrowIfError();
        (await pool.RunInSessionAsync("bob", "x = 'bob'")).ThrowIfError();
        var alice = await pool.RunInSessionAsync("alice", "x + 1");
        var bob = await pool.RunInSessionAsync("bob", "x");

        Assert.Equal(42, alice.Value!.Value.GetInt32());
        Assert.Equal("bob", bob.Value!.Value.GetString());
        Assert.Equal(2, pool.SessionCount);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EndSession_DropsItsState()
    {
        await using var pool = new SandboxPool(Options());
        (await pool.RunInSessionAsync("s", "x = 1")).ThrowIfError();

        Assert.True(pool.EndSession("s"));
        Assert.False(pool.EndSession("s"));
        var after = await pool.RunInSessionAsync("s", "'x' in globals()");

        Assert.False(after.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task IdleSessions_Expire()
    {
        await using var pool = new SandboxPool(Options() with { SessionIdleTimeout = TimeSpan.FromSeconds(1) });
        (await pool.RunInSessionAsync("s", "x = 1")).ThrowIfError();
        Assert.Equal(1, pool.SessionCount);

        var clock = Stopwatch.StartNew();
        while (pool.SessionCount > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(100);
        }

        Assert.Equal(0, pool.SessionCount);
        var fresh = await pool.RunInSessionAsync("s", "'x' in globals()");
        Assert.False(fresh.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SessionWhoseSandboxIsLost_StartsOverOnTheNextCall()
    {
        var options = Options() with { Sandbox = TestOptions.Default with { Timeout = TimeSpan.FromMilliseconds(300) } };
        await using var pool = new SandboxPool(options);
        (await pool.RunInSessionAsync("s", "x = 1")).ThrowIfError();

        // C-level work ignores the soft interrupt: the run is terminated and the sandbox lost.
        var killed = await pool.RunInSessionAsync("s", "sum(range(10**12))");
        var next = await pool.RunInSessionAsync("s", "'x' in globals()");

        Assert.True(killed.TimedOut);
        Assert.True(killed.SandboxLost);
        Assert.Null(next.Error);
        Assert.False(next.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task WarmUp_FillsThePool_AndTakeHandsOutAReadySandbox()
    {
        await using var pool = new SandboxPool(Options(minReady: 2));
        await pool.WarmUpAsync();
        Assert.Equal(2, pool.ReadyCount);

        await using var sandbox = await pool.TakeAsync();
        Assert.Equal(9, (await sandbox.RunAsync("4 + 5")).Value!.Value.GetInt32());

        // The pool starts a replacement in the background.
        var clock = Stopwatch.StartNew();
        while (pool.ReadyCount < 2 && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50);
        }

        Assert.Equal(2, pool.ReadyCount);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task BadInput_IsRefusedWithoutUsingUpAReadySandbox()
    {
        // One slot: a sandbox used up on bad input would leave none ready for ~0.5 s (a refill).
        await using var pool = new SandboxPool(Options(minReady: 1, max: 1) with { Sandbox = TestOptions.Default with { MaxCodeBytes = 1024 } });
        await pool.WarmUpAsync();
        var badGlobal = new RunInputs { Globals = new Dictionary<string, object?> { ["__builtins__"] = 1 } };

        await Assert.ThrowsAsync<ArgumentException>(() => pool.RunAsync("x", badGlobal));
        await Assert.ThrowsAsync<ArgumentException>(() => pool.RunInSessionAsync("s", "x", badGlobal));
        var tooLarge = await pool.RunAsync(new string('#', 2000));
        var tooLargeInSession = await pool.RunInSessionAsync("s", new string('#', 2000));

        Assert.Equal(SandboxLimit.CodeSize, tooLarge.Limit);
        Assert.Equal(SandboxLimit.CodeSize, tooLargeInSession.Limit);
        Assert.Equal(1, pool.ReadyCount);
        Assert.Equal(0, pool.SessionCount);
        Assert.Equal(9, (await pool.RunAsync("4 + 5")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AtMaxSandboxes_CallersWaitForAFreedOne()
    {
        await using var pool = new SandboxPool(Options(minReady: 0, max: 1));
        var first = await pool.TakeAsync();

        using (var shortWait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.TakeAsync(shortWait.Token));
        }

        var waiting = pool.TakeAsync();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await first.DisposeAsync();

        await using var second = await waiting;
        Assert.Equal(9, (await second.RunAsync("4 + 5")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ParallelRuns_AllAnswered_WithinMaxSandboxes()
    {
        await using var pool = new SandboxPool(Options(minReady: 1, max: 3));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => pool.RunAsync($"{i} * 2")));

        Assert.Equal(Enumerable.Range(0, 8).Select(i => i * 2), results.Select(r => r.Value!.Value.GetInt32()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Dispose_LetsRunsInProgressFinish_ThenRefusesCalls()
    {
        var pool = new SandboxPool(Options());
        await pool.WarmUpAsync();
        var running = pool.RunInSessionAsync("s", "import time\ntime.sleep(0.5)\n7");
        await Task.Delay(100);

        await pool.DisposeAsync();

        Assert.Equal(7, (await running).Value!.Value.GetInt32());
        Assert.Equal(0, pool.ReadyCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.RunAsync("1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task WarmUp_WithMissingAssets_ThrowsTheAssetError()
    {
        var missing = Path.Combine(Path.GetTempPath(), "pe-no-such-folder-" + Guid.NewGuid().ToString("N"));
        await using var pool = new SandboxPool(Options() with { Sandbox = TestOptions.Default with { AssetsPath = missing } });

        await Assert.ThrowsAsync<SandboxAssetException>(() => pool.WarmUpAsync());
        await Assert.ThrowsAsync<SandboxAssetException>(() => pool.RunAsync("1"));
    }

    [Fact]
    public void Options_OutOfRange_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SandboxPool(new SandboxPoolOptions { MinReady = 5, MaxSandboxes = 4 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SandboxPool(new SandboxPoolOptions { MaxSandboxes = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SandboxPool(new SandboxPoolOptions { SessionIdleTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SandboxPool(new SandboxPoolOptions { Sandbox = new SandboxOptions { Timeout = TimeSpan.Zero } }));
    }
}
