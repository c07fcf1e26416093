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
    public async Task EndedSession_ItsSandboxIsResetInPlace_AndServesTheNextCallerWithNothingOfIt()
    {
        // One place: the next caller can only get the ended session's sandbox.
        await using var pool = new SandboxPool(Options(minReady: 1, max: 1));
        (await pool.RunInSessionAsync("alice", "secret = 'alice'\nimport builtins\nbuiltins.planted = 1\nopen('/tmp/alice.txt', 'w').write('x')")).ThrowIfError();
        Assert.True(await pool.EndSessionAsync("alice"));

        await using var next = await pool.TakeAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, next.Resets.InPlace); // the same isolate, reset; not a new one
        var seen = await next.RunAsync("import builtins, os\n['secret' in globals(), hasattr(builtins, 'planted'), os.path.exists('/tmp/alice.txt')]");
        Assert.Equal([false, false, false], seen.Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReadySandboxesBeyondMinReady_AreDisposed_OnceNoCallerTookOneForAnIdleTimeout()
    {
        await using var pool = new SandboxPool(Options(minReady: 1, max: 4) with { SessionIdleTimeout = TimeSpan.FromSeconds(1) });
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => pool.RunInSessionAsync($"s{i}", "x = 1")));
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => pool.EndSessionAsync($"s{i}")));

        // The three come back ready (beside the spare), then the extra ones go once unused for the idle timeout.
        var clock = Stopwatch.StartNew();
        var most = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(30) && !(most > 1 && pool.ReadyCount == 1))
        {
            most = Math.Max(most, pool.ReadyCount);
            await Task.Delay(50);
        }

        Assert.True(most > 1, $"at most {most} ready");
        Assert.Equal(1, pool.ReadyCount);
        Assert.Equal(9, (await pool.RunAsync("4 + 5")).Value!.Value.GetInt32());
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
    public async Task EndSessionAsync_DropsItsState()
    {
        await using var pool = new SandboxPool(Options());
        (await pool.RunInSessionAsync("s", "x = 1")).ThrowIfError();

        Assert.True(await pool.EndSessionAsync("s"));
        Assert.False(await pool.EndSessionAsync("s"));
        Assert.False(await pool.EndSessionAsync("never-opened"));
        Assert.Equal(0, pool.SessionCount);
        var after = await pool.RunInSessionAsync("s", "'x' in globals()");

        Assert.False(after.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EndSessionAsync_DuringARun_StopsItAndTheQueuedCall_ThenReturnsTrue()
    {
        await using var pool = new SandboxPool(Options());
        (await pool.RunInSessionAsync("s", "x = 1")).ThrowIfError();
        var running = pool.RunInSessionAsync("s", "while True: pass");
        var queued = pool.RunInSessionAsync("s", "x");
        await Task.Delay(300);
        Assert.False(running.IsCompleted);

        var clock = Stopwatch.StartNew();
        Assert.True(await pool.EndSessionAsync("s"));
        var stopWait = clock.Elapsed;

        // Both calls were in the session: when EndSessionAsync returns they have been answered.
        Assert.True(running.IsCompleted);
        Assert.True(queued.IsCompleted);
        foreach (var stopped in new[] { await running, await queued })
        {
            Assert.True(stopped.SandboxLost);
            Assert.Equal("KeyboardInterrupt", stopped.Error!.TypeName);
            Assert.Equal(SandboxLimit.None, stopped.Limit);
        }

        Assert.InRange(stopWait, TimeSpan.Zero, TimeSpan.FromSeconds(10)); // far below the 30 s time limit
        Assert.Equal(0, pool.SessionCount);
        var next = await pool.RunInSessionAsync("s", "'x' in globals()");
        Assert.False(next.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EndSessionAsync_WhileTheSessionStarts_EndsItOnceStarted()
    {
        // No sandbox ready: the first call starts one for the session (~0.5 s), and the end waits for it.
        await using var pool = new SandboxPool(Options(minReady: 0));
        var first = pool.RunInSessionAsync("s", "x = 1\nx");
        while (pool.SessionCount == 0)
        {
            await Task.Delay(10);
        }

        var ended = await pool.EndSessionAsync("s");
        var result = await first;

        // Either the call entered the session before the end (and was stopped), or it found it ended and started over.
        Assert.True(ended);
        Assert.True(result.SandboxLost || result.Value!.Value.GetInt32() == 1);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ConcurrentFirstCalls_ForOneSession_ShareOneSandbox()
    {
        await using var pool = new SandboxPool(Options(minReady: 0, max: 4));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            pool.RunInSessionAsync("s", "counter = globals().get('counter', 0) + 1\ncounter")));

        // One interpreter ran all eight, one at a time: each saw the ones before it.
        Assert.Equal(Enumerable.Range(1, 8), results.Select(r => r.Value!.Value.GetInt32()).Order());
        Assert.Equal(1, pool.SessionCount);
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

        // The pool starts a replacement in the background; WarmUpAsync returns once it is ready.
        await pool.WarmUpAsync();
        Assert.Equal(2, pool.ReadyCount);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Constructor_StartsNothing_UntilTheFirstCall()
    {
        await using var pool = new SandboxPool(Options(minReady: 2));
        await Task.Delay(1000);
        Assert.Equal(0, pool.ReadyCount);

        await Task.WhenAll(pool.WarmUpAsync(), pool.WarmUpAsync(), pool.WarmUpAsync());

        Assert.Equal(2, pool.ReadyCount);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task WarmUp_WhileEveryPlaceIsTaken_ReturnsWhenOneIsFreed()
    {
        await using var pool = new SandboxPool(Options(minReady: 1, max: 1));
        var taken = await pool.TakeAsync();
        var warmUp = pool.WarmUpAsync();
        await Task.Delay(500);
        Assert.False(warmUp.IsCompleted);

        await taken.DisposeAsync();
        await warmUp;

        Assert.Equal(1, pool.ReadyCount);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task WarmUp_Waiting_IsCancelledByItsToken_AndEndedByDispose()
    {
        var pool = new SandboxPool(Options(minReady: 1, max: 1));
        await using var taken = await pool.TakeAsync();

        using (var shortWait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.WarmUpAsync(shortWait.Token));
        }

        var warmUp = pool.WarmUpAsync();
        await pool.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => warmUp);
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
    public async Task DisposeAsync_WaitsForRunsInProgress_ThenFreesEverything_AndRefusesCalls()
    {
        var pool = new SandboxPool(Options());
        await pool.WarmUpAsync();
        var running = pool.RunInSessionAsync("s", "import time\ntime.sleep(0.5)\n7");
        await Task.Delay(100);

        await pool.DisposeAsync();

        Assert.True(running.IsCompleted);
        Assert.Equal(7, (await running).Value!.Value.GetInt32());
        Assert.Equal(0, pool.ReadyCount);
        Assert.Equal(0, pool.SessionCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.RunAsync("1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Dispose_DoesNotBlockOnARunningCall_WhichStillFinishes()
    {
        var pool = new SandboxPool(Options(minReady: 1));
        await pool.WarmUpAsync();
        var inSession = pool.RunInSessionAsync("s", "import time\ntime.sleep(1.5)\n7");
        var fresh = pool.RunAsync("import time\ntime.sleep(1.5)\n8");
        await Task.Delay(300);

        var clock = Stopwatch.StartNew();
        pool.Dispose();
        var disposeTook = clock.Elapsed;

        Assert.InRange(disposeTook, TimeSpan.Zero, TimeSpan.FromMilliseconds(500)); // the runs have about 1.2 s left
        Assert.False(inSession.IsCompleted);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.RunAsync("1"));
        Assert.Equal(7, (await inSession).Value!.Value.GetInt32());
        Assert.Equal(8, (await fresh).Value!.Value.GetInt32());

        await pool.DisposeAsync(); // after Dispose: waits for the session's sandbox to be freed
        Assert.Equal(0, pool.ReadyCount);
        Assert.Equal(0, pool.SessionCount);
        Assert.False(await pool.EndSessionAsync("s"));
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
