using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using PyodideEmbedded.Orleans.Internal;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>With session storage, a session lost with its silo is reported to whoever calls it next, also a client
/// that never used it (another process, or one restarted); a session that ended or idled out is not.</summary>
public sealed class SessionStorageTests
{
    private const string Storage = "python-sessions";
    private const string MarkerState = "python-session";

    [Theory(Timeout = 120_000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SiloLost_AnotherClientsFirstCall_AnswersSandboxLost_ThenANewSession(bool kill)
    {
        await using var cluster = await StartAsync(idle: TimeSpan.FromMinutes(2));
        var victim = cluster.Silos[1];
        var victimName = victim.SiloAddress.ToParsableString();
        var first = cluster.Sandboxes();
        var id = await OpenSessionOnAsync(cluster, first, victimName);
        Assert.True(SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, id)));

        if (kill)
        {
            await cluster.KillSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));
        }
        else
        {
            await cluster.StopSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // Once the cluster knows the silo is gone, the session activates elsewhere and finds its marker.
        await WaitForSiloOtherThanAsync(cluster, id, victimName);

        // A client that never used the session (another process, or this one restarted) is told, and the code did not run.
        var other = new SandboxCluster(cluster.Client.ServiceProvider.GetRequiredService<IGrainFactory>(), new SandboxClusterOptions { SessionIdleTimeout = TimeSpan.FromMinutes(2) });
        var lost = await other.RunInSessionAsync(id, "y = 1\nx").WaitAsync(TestClusters.CallBound);
        Assert.True(lost.SandboxLost, lost.Error?.Summary);
        Assert.Equal("SandboxLost", lost.Error?.TypeName);
        Assert.Contains("lost with its silo", lost.Error!.Summary, StringComparison.Ordinal);

        // Told once: its next call runs, in a new sandbox without the old state.
        var fresh = await other.RunInSessionAsync(id, "'x' in globals()").WaitAsync(TestClusters.CallBound);
        Assert.False(fresh.SandboxLost, fresh.Error?.Summary);
        Assert.False(fresh.Value!.Value.GetBoolean());
        Assert.True(SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, id)));
    }

    [Fact(Timeout = 120_000)]
    public async Task SiloLost_ThenTheSessionEndedBeforeAnyCall_NextCallerOpensSilently()
    {
        await using var cluster = await StartAsync(idle: TimeSpan.FromMinutes(2));
        var victim = cluster.Silos[1];
        var victimName = victim.SiloAddress.ToParsableString();
        var id = await OpenSessionOnAsync(cluster, cluster.Sandboxes(), victimName);
        await cluster.KillSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));
        await WaitForSiloOtherThanAsync(cluster, id, victimName);

        // The loss is pending, but the caller ends the session: it chose to forget it, so nobody is told afterwards.
        var other = new SandboxCluster(cluster.Client.ServiceProvider.GetRequiredService<IGrainFactory>(), new SandboxClusterOptions { SessionIdleTimeout = TimeSpan.FromMinutes(2) });
        await other.EndSessionAsync(id).WaitAsync(TestClusters.CallBound);
        await WaitUntilAsync(() => !SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, id)));

        var third = new SandboxCluster(cluster.Client.ServiceProvider.GetRequiredService<IGrainFactory>(), new SandboxClusterOptions { SessionIdleTimeout = TimeSpan.FromMinutes(2) });
        var next = await third.RunInSessionAsync(id, "'x' in globals()").WaitAsync(TestClusters.CallBound);
        Assert.False(next.SandboxLost, next.Error?.Summary);
        Assert.False(next.Value!.Value.GetBoolean());
    }

    [Fact(Timeout = 120_000)]
    public async Task EndedOrIdleSession_LeavesNoMarker_NextCallerOpensSilently()
    {
        var idle = TimeSpan.FromSeconds(2);
        await using var cluster = await StartAsync(idle);
        var sandboxes = cluster.Sandboxes();
        var other = new SandboxCluster(cluster.Client.ServiceProvider.GetRequiredService<IGrainFactory>(), new SandboxClusterOptions { SessionIdleTimeout = idle });

        var ended = "ended-" + Guid.NewGuid().ToString("N");
        (await sandboxes.RunInSessionAsync(ended, "x = 1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
        Assert.True(SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, ended)));
        Assert.True(await sandboxes.EndSessionAsync(ended).WaitAsync(TestClusters.CallBound));
        await WaitUntilAsync(() => !SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, ended)));
        var afterEnd = await other.RunInSessionAsync(ended, "'x' in globals()").WaitAsync(TestClusters.CallBound);
        Assert.False(afterEnd.SandboxLost, afterEnd.Error?.Summary);
        Assert.False(afterEnd.Value!.Value.GetBoolean());

        var idled = "idle-" + Guid.NewGuid().ToString("N");
        (await sandboxes.RunInSessionAsync(idled, "x = 1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
        await WaitUntilAsync(() => !SharedGrainStorage.Holds(MarkerState, GrainOf(cluster, idled)));
        var afterIdle = await other.RunInSessionAsync(idled, "'x' in globals()").WaitAsync(TestClusters.CallBound);
        Assert.False(afterIdle.SandboxLost, afterIdle.Error?.Summary);
        Assert.False(afterIdle.Value!.Value.GetBoolean());
    }

    private static Task<InProcessTestCluster> StartAsync(TimeSpan idle) => TestClusters.StartAsync(2, new SandboxPoolOptions
    {
        MinReady = 1,
        MaxSandboxes = 6,
        SessionIdleTimeout = idle,
        Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(5) },
    }, clientResponseTimeout: TimeSpan.FromSeconds(20), sessionStorage: Storage);

    private static GrainId GrainOf(InProcessTestCluster cluster, string sessionId) =>
        cluster.Client.GetGrain<ISandboxSessionGrain>(sessionId).GetGrainId();

    // A session with state on the given silo (placement decides where; try ids until one lands there).
    private static async Task<string> OpenSessionOnAsync(InProcessTestCluster cluster, SandboxCluster sandboxes, string silo)
    {
        for (var i = 0; i < 30; i++)
        {
            var id = $"marked-{i}-{Guid.NewGuid():N}";
            (await sandboxes.RunInSessionAsync(id, "x = 1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
            if (await cluster.SiloOfAsync(id) == silo)
            {
                return id;
            }
        }

        throw new InvalidOperationException("no session was placed on " + silo);
    }

    private static async Task WaitForSiloOtherThanAsync(InProcessTestCluster cluster, string sessionId, string gone)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TestClusters.CallBound)
        {
            try
            {
                if (await cluster.SiloOfAsync(sessionId) != gone)
                {
                    return;
                }
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // the cluster has not noticed yet
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("the session did not move off the silo that left");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "condition not met in 30 s");
            await Task.Delay(100);
        }
    }
}
