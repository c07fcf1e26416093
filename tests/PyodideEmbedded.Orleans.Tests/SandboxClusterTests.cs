using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace PyodideEmbedded.Orleans.Tests;

public sealed class SandboxClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private readonly SandboxCluster _sandboxes = fixture.Sandboxes;

    [Fact(Timeout = 60_000)]
    public async Task Session_FirstCallIsNotLost_AndStateIsKept()
    {
        var id = "state-" + Guid.NewGuid();
        var first = await _sandboxes.RunInSessionAsync(id, "x = 41").WaitAsync(TestClusters.CallBound);
        Assert.True(first.Succeeded, first.Error?.Summary);
        Assert.False(first.SandboxLost);

        var second = await _sandboxes.RunInSessionAsync(id, "x + 1").WaitAsync(TestClusters.CallBound);
        Assert.False(second.SandboxLost);
        Assert.Equal(42, second.Value!.Value.GetInt32());
        await _sandboxes.EndSessionAsync(id);
    }

    [Fact(Timeout = 60_000)]
    public async Task FreshRun_ReturnsWhatTheLibraryReturns_ValueOutputGlobalsAndFiles()
    {
        using var doc = JsonDocument.Parse("""{"k": [1, 2.5]}""");
        var result = await _sandboxes.RunAsync(
            "print('hi')\nopen('/out/out.txt', 'w').write(open('/data/in.txt').read().upper())\n{'i': i, 'f': f, 'is_float': isinstance(f, float), 'j': j}",
            new RunInputs
            {
                Globals = new Dictionary<string, object?> { ["i"] = 7, ["f"] = 2.0, ["j"] = doc.RootElement },
                Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/in.txt"] = Encoding.UTF8.GetBytes("abc") },
                ReadFiles = ["/out/out.txt"],
            }).WaitAsync(TestClusters.CallBound);

        Assert.True(result.Succeeded, result.Error?.Summary);
        Assert.Equal("hi\n", result.Stdout);
        var value = result.Value!.Value;
        Assert.Equal(7, value.GetProperty("i").GetInt32());
        Assert.True(value.GetProperty("is_float").GetBoolean());
        Assert.Equal(2.5, value.GetProperty("j").GetProperty("k")[1].GetDouble());
        Assert.Equal("ABC", Encoding.UTF8.GetString(result.Files["/out/out.txt"].Span));
    }

    [Fact(Timeout = 60_000)]
    public async Task PythonError_CrossesAsTheLibrarysError()
    {
        var result = await _sandboxes.RunAsync("1/0").WaitAsync(TestClusters.CallBound);
        Assert.Equal("ZeroDivisionError", result.Error?.TypeName);
        Assert.False(result.SandboxLost);
    }

    [Fact(Timeout = 60_000)]
    public async Task BusyLoop_EndsAsTheSandboxTimeLimit_NotAnOrleansTimeout()
    {
        var fresh = await _sandboxes.RunAsync("while True: pass").WaitAsync(TestClusters.CallBound);
        Assert.Equal(SandboxLimit.Time, fresh.Limit);

        var id = "busy-" + Guid.NewGuid();
        var session = await _sandboxes.RunInSessionAsync(id, "while True: pass").WaitAsync(TestClusters.CallBound);
        Assert.Equal(SandboxLimit.Time, session.Limit);
        await _sandboxes.EndSessionAsync(id);
    }

    [Fact(Timeout = 60_000)]
    public async Task CallersToken_StopsTheRunOnTheSilo_AndTheSessionKeepsItsState()
    {
        var id = "cancel-" + Guid.NewGuid();
        (await _sandboxes.RunInSessionAsync(id, "x = 7").WaitAsync(TestClusters.CallBound)).ThrowIfError();

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => _sandboxes.RunInSessionAsync(id, "while True: pass", cancellationToken: cancel.Token).WaitAsync(TestClusters.CallBound));
        // Before the 2 s time limit would have ended it: the cancellation reached the silo.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.8), clock.Elapsed.ToString());

        var after = await _sandboxes.RunInSessionAsync(id, "x").WaitAsync(TestClusters.CallBound);
        Assert.False(after.SandboxLost, after.Error?.Summary);
        Assert.Equal(7, after.Value!.Value.GetInt32());
        await _sandboxes.EndSessionAsync(id);
    }

    [Fact(Timeout = 60_000)]
    public async Task MemoryHog_EndsAsTheSandboxMemoryLimit_AndTheClusterKeepsWorking()
    {
        var result = await _sandboxes.RunAsync("b = bytearray(1 << 30)").WaitAsync(TestClusters.CallBound);
        Assert.Equal("MemoryError", result.Error?.TypeName);
        Assert.Equal(2, (await _sandboxes.RunAsync("1 + 1").WaitAsync(TestClusters.CallBound)).Value!.Value.GetInt32());
    }

    [Fact]
    public async Task BadArguments_AreRefusedByTheCaller()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(() => _sandboxes.RunAsync(null!));
        await Assert.ThrowsAsync<ArgumentException>(() => _sandboxes.RunInSessionAsync("", "1"));
        await Assert.ThrowsAsync<ArgumentException>(() => _sandboxes.RunInSessionAsync(new string('s', SandboxCluster.MaxSessionIdLength + 1), "1"));
        await Assert.ThrowsAsync<ArgumentException>(() => _sandboxes.EndSessionAsync(new string('s', SandboxCluster.MaxSessionIdLength + 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => _sandboxes.RunAsync("1", new RunInputs { Globals = new Dictionary<string, object?> { ["__builtins__"] = 1 } }));
    }

    [Fact(Timeout = 60_000)]
    public async Task EndSession_FreesTheSandbox_AndTheNextCallStartsFreshWithoutSandboxLost()
    {
        var id = "end-" + Guid.NewGuid();
        await _sandboxes.RunInSessionAsync(id, "x = 1").WaitAsync(TestClusters.CallBound);
        Assert.True(await _sandboxes.EndSessionAsync(id).WaitAsync(TestClusters.CallBound));

        var after = await _sandboxes.RunInSessionAsync(id, "x").WaitAsync(TestClusters.CallBound);
        Assert.False(after.SandboxLost);
        Assert.Equal("NameError", after.Error?.TypeName);
        await _sandboxes.EndSessionAsync(id);
    }

    [Fact(Timeout = 60_000)]
    public async Task IdleSession_IsDeactivatedAndItsSandboxFreed()
    {
        var id = "idle-" + Guid.NewGuid();
        await _sandboxes.RunInSessionAsync(id, "x = 1").WaitAsync(TestClusters.CallBound);
        var silo = await fixture.Cluster.SiloOfAsync(id);
        var local = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToParsableString() == silo).Local();
        Assert.True(local.Pool.SessionCount >= 1);

        var deadline = DateTime.UtcNow + ClusterFixture.IdleTimeout + TimeSpan.FromSeconds(10);
        while (local.Pool.SessionCount > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        // Every session of this class is ended or idle by now (none is in use across tests for seconds).
        Assert.Equal(0, local.Pool.SessionCount);

        // The client knows the idle timeout: the next call opens a new session silently, as the library does.
        var after = await _sandboxes.RunInSessionAsync(id, "x").WaitAsync(TestClusters.CallBound);
        Assert.False(after.SandboxLost);
        Assert.Equal("NameError", after.Error?.TypeName);
        await _sandboxes.EndSessionAsync(id);
    }

    [Fact]
    public void GrainCallTimeouts_AreAboveTheSandboxTimeLimit()
    {
        var limit = fixture.Cluster.Silos[0].Local().Pool.Options.Sandbox.Timeout;
        foreach (var silo in fixture.Cluster.Silos)
        {
            Assert.True(silo.ServiceProvider.GetRequiredService<IOptions<SiloMessagingOptions>>().Value.ResponseTimeout >= limit + TimeSpan.FromMinutes(1));
        }

        Assert.True(fixture.Cluster.Client.ServiceProvider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ResponseTimeout >= TimeSpan.FromMinutes(2));
    }

    [Fact(Timeout = 60_000)]
    public async Task SessionsUnusedForTheIdleTimeout_AreForgottenByTheCaller()
    {
        var old = "forgotten-" + Guid.NewGuid();
        (await _sandboxes.RunInSessionAsync(old, "1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
        Assert.True(_sandboxes.Remembers(old));

        // Two idle timeouts: the sweep after the first may have run just before this session's call.
        await Task.Delay(ClusterFixture.IdleTimeout * 2 + TimeSpan.FromMilliseconds(200));
        var recent = "recent-" + Guid.NewGuid();
        (await _sandboxes.RunInSessionAsync(recent, "1").WaitAsync(TestClusters.CallBound)).ThrowIfError();

        Assert.False(_sandboxes.Remembers(old));
        Assert.True(_sandboxes.Remembers(recent));
        await _sandboxes.EndSessionAsync(recent);
    }

    [Fact]
    public void SilosPools_LogAndMeasureThroughTheSilo()
    {
        foreach (var silo in fixture.Cluster.Silos)
        {
            var sandbox = silo.Local().Pool.Options.Sandbox;
            Assert.Same(silo.ServiceProvider.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(), sandbox.LoggerFactory);
            Assert.Same(silo.ServiceProvider.GetService<System.Diagnostics.Metrics.IMeterFactory>(), sandbox.MeterFactory);
        }
    }

    [Fact]
    public async Task RunTimeLimitTooCloseToTheCallTimeout_IsRefusedByTheCaller()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _sandboxes.RunAsync("1", new RunInputs { Timeout = TimeSpan.FromMinutes(5) }));
    }
}
