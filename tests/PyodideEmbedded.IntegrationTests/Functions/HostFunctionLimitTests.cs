using System.Diagnostics;

namespace PyodideEmbedded.IntegrationTests.Functions;

/// <summary>Time spent in host functions counts against the run: the limit and the caller's token end a call in progress.</summary>
[Collection(nameof(LimitsCollection))]
public sealed class HostFunctionLimitTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(400);

    private static async Task<(PythonSandbox Sandbox, HostFunctionsSandbox Signals)> CreateAsync(TimeSpan grace)
    {
        var signals = new HostFunctionsSandbox();
        var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { Functions = HostFunctionsSandbox.Functions(signals), InterruptGracePeriod = grace });
        return (sandbox, signals);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FunctionThatNeverReturns_IsAbandonedAtTheTimeLimit_AndTheSandboxLives()
    {
        // A grace period far longer than the bound below, so that a loaded machine cannot blur the two.
        var (sandbox, _) = await CreateAsync(TimeSpan.FromSeconds(10));
        await using var _ = sandbox;
        var clock = Stopwatch.StartNew();

        var result = await sandbox.RunAsync("import host\nhost.never_returns()", new RunInputs { Timeout = Limit });

        Assert.Equal(SandboxLimit.Time, result.Limit);
        Assert.Equal("TimeoutError", result.Error?.TypeName);
        Assert.Contains("KeyboardInterrupt", result.Error!.Traceback, StringComparison.Ordinal); // the soft stop, raised at the call
        Assert.Contains("File \"<exec>\", line 2", result.Error!.Traceback, StringComparison.Ordinal); // raised at the call
        Assert.InRange(clock.Elapsed, Limit, Limit + TimeSpan.FromSeconds(5)); // answered at the limit, not at the grace period's end
        Assert.False(result.SandboxLost);
        Assert.Equal(3, (await sandbox.RunAsync("host.add(1, 2)")).ThrowIfError().Value!.Value.GetInt64());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TimeLimit_DuringACall_CancelsTheFunctionsToken()
    {
        var (sandbox, signals) = await CreateAsync(TimeSpan.FromSeconds(2));
        await using var _ = sandbox;

        var result = await sandbox.RunAsync("import host\nhost.wait_for_cancel()", new RunInputs { Timeout = Limit });

        Assert.Equal(SandboxLimit.Time, result.Limit);
        Assert.True(await signals.TokenCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TimeInHostFunctions_CountsAgainstTheLimit()
    {
        var (sandbox, _) = await CreateAsync(TimeSpan.FromSeconds(2));
        await using var _ = sandbox;

        // Each call takes ~5 ms in .NET and almost nothing in Python: only the host's time can pass the limit.
        var result = await sandbox.RunAsync("import host\nwhile True: host.get_weather('Oslo')", new RunInputs { Timeout = Limit });

        Assert.Equal(SandboxLimit.Time, result.Limit);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CallersToken_DuringACall_ThrowsCancelled_AndCancelsTheFunctionsToken()
    {
        var (sandbox, signals) = await CreateAsync(TimeSpan.FromSeconds(2));
        await using var _ = sandbox;
        using var cancel = new CancellationTokenSource(Limit);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sandbox.RunAsync("import host\nhost.wait_for_cancel()", cancel.Token));

        Assert.True(await signals.TokenCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, (await sandbox.RunAsync("host.add(1, 2)")).ThrowIfError().Value!.Value.GetInt64());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CodeThatSwallowsTheInterrupt_AroundAFunctionThatNeverReturns_IsStillAnsweredAtTheLimit()
    {
        var (sandbox, _) = await CreateAsync(TimeSpan.FromMilliseconds(30));
        await using var _ = sandbox;
        var clock = Stopwatch.StartNew();

        var result = await sandbox.RunAsync("""
            import host
            while True:
                try:
                    host.never_returns()
                except BaseException:
                    pass
            """, new RunInputs { Timeout = Limit });

        Assert.Equal(SandboxLimit.Time, result.Limit);
        Assert.InRange(clock.Elapsed, Limit, Limit + TimeSpan.FromSeconds(5));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Dispose_DuringACall_EndsTheRun()
    {
        var (sandbox, signals) = await CreateAsync(TimeSpan.FromSeconds(2));
        var run = sandbox.RunAsync("import host\nhost.wait_for_cancel()");
        await Task.Delay(300);

        await sandbox.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        await Assert.ThrowsAsync<ObjectDisposedException>(() => run);
        Assert.True(await signals.TokenCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
