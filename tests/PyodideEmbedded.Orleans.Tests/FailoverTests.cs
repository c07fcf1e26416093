using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>Three silos; 30 sessions spread over them; one silo leaves mid-way.</summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    private const int Sessions = 30;
    // Room on the two silos left for all 30 sessions and the fresh runs: a pool at MaxSandboxes makes the next
    // session wait for a free sandbox (as the library does), so a cluster is sized to lose a silo.
    private const int MaxPerSilo = 20;

    [Theory(Timeout = 120_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SiloLeaving_ItsSessionsAnswerSandboxLostElsewhere_OthersKeepState_FreshRunsKeepSucceeding(bool kill)
    {
        await using var cluster = await TestClusters.StartAsync(3, new SandboxPoolOptions
        {
            MinReady = 1,
            MaxSandboxes = MaxPerSilo,
            Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(5) },
        },
        // The bound on any call: a fresh run in flight on a killed silo whose connection the client does not see close
        // ends with a timeout after this long, and is sent again to a silo that answers.
        clientResponseTimeout: TimeSpan.FromSeconds(8));
        var sandboxes = cluster.Sandboxes();
        var ids = Enumerable.Range(0, Sessions).Select(i => $"s{i}-{Guid.NewGuid():N}").ToArray();

        // 30 sessions, a few at a time, each with its own state.
        using (var gate = new SemaphoreSlim(6))
        {
            await Task.WhenAll(ids.Select(async (id, i) =>
            {
                await gate.WaitAsync();
                try
                {
                    var r = await sandboxes.RunInSessionAsync(id, $"x = {i}\nx").WaitAsync(TestClusters.CallBound);
                    Assert.False(r.SandboxLost);
                    Assert.Equal(i, r.Value!.Value.GetInt32());
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        var siloOf = new Dictionary<string, string>();
        foreach (var id in ids)
        {
            siloOf[id] = await cluster.SiloOfAsync(id);
        }

        var perSilo = siloOf.Values.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, perSilo.Count); // spread over all silos, evenly enough
        Assert.All(perSilo.Values, n => Assert.InRange(n, 5, 15));

        // Fresh runs throughout.
        using var stopFresh = new CancellationTokenSource();
        var freshFailures = new ConcurrentQueue<string>();
        var freshOk = 0;
        var fresh = Task.Run(async () =>
        {
            while (!stopFresh.IsCancellationRequested)
            {
                try
                {
                    var r = await sandboxes.RunAsync("6 * 7").WaitAsync(TestClusters.CallBound);
                    if (r.Value?.GetInt32() == 42)
                    {
                        Interlocked.Increment(ref freshOk);
                    }
                    else
                    {
                        freshFailures.Enqueue(r.Error?.Summary ?? "no value");
                    }
                }
#pragma warning disable CA1031 // recorded and asserted on below
                catch (Exception e)
#pragma warning restore CA1031
                {
                    freshFailures.Enqueue(e.GetType().Name + ": " + e.Message);
                }
            }
        });

        // A silo that is not the first (the client's first gateway) and holds sessions leaves.
        var victim = cluster.Silos.Skip(1).First(s => perSilo.ContainsKey(s.SiloAddress.ToParsableString()));
        var victimName = victim.SiloAddress.ToParsableString();
        await Task.Delay(500);
        if (kill)
        {
            await cluster.KillSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));
        }
        else
        {
            await cluster.StopSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));
        }

        var slowestLost = TimeSpan.Zero;

        // Every session's next call: SandboxLost on another silo for the victim's, state intact for the others.
        for (var i = 0; i < Sessions; i++)
        {
            var id = ids[i];
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var r = await sandboxes.RunInSessionAsync(id, "x").WaitAsync(TestClusters.CallBound);
            if (siloOf[id] == victimName)
            {
                Assert.True(r.SandboxLost, $"session {i} was on the silo that left");
                Assert.Equal("SandboxLost", r.Error?.TypeName);
                Assert.NotEqual(victimName, await cluster.SiloOfAsync(id));
                slowestLost = clock.Elapsed > slowestLost ? clock.Elapsed : slowestLost;
                var again = await sandboxes.RunInSessionAsync(id, "x = 'new'\nx").WaitAsync(TestClusters.CallBound);
                Assert.False(again.SandboxLost);
                Assert.Equal("new", again.Value!.Value.GetString());
            }
            else
            {
                Assert.False(r.SandboxLost, $"session {i}: {r.Error?.Summary}");
                Assert.Equal(i, r.Value!.Value.GetInt32());
                Assert.Equal(siloOf[id], await cluster.SiloOfAsync(id));
            }
        }

        output.WriteLine($"{(kill ? "kill" : "stop")}: {siloOf.Values.Count(s => s == victimName)} sessions lost; slowest SandboxLost answer {slowestLost.TotalMilliseconds:F0} ms; {freshOk} fresh runs so far");
        await Task.Delay(500);
        await stopFresh.CancelAsync();
        await fresh.WaitAsync(TestClusters.CallBound);
        Assert.True(freshFailures.IsEmpty, string.Join("\n", freshFailures.Take(5)));
        Assert.True(freshOk > 0);
    }
}

/// <summary>A silo shut down gracefully while one of its sessions is running: the caller is answered, never left waiting.</summary>
public sealed class DrainTests
{
    [Fact(Timeout = 90_000)]
    public async Task GracefulStop_WithARunInProgress_AnswersTheCaller_ThenSandboxLost()
    {
        await using var cluster = await TestClusters.StartAsync(2, new SandboxPoolOptions
        {
            MinReady = 1,
            MaxSandboxes = 6,
            Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(20) },
        });
        var sandboxes = cluster.Sandboxes();
        var victim = cluster.Silos[1];
        var victimName = victim.SiloAddress.ToParsableString();

        // A session on the silo that will stop.
        string? id = null;
        for (var i = 0; i < 20 && id is null; i++)
        {
            var candidate = $"drain-{i}-{Guid.NewGuid():N}";
            (await sandboxes.RunInSessionAsync(candidate, "x = 1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
            if (await cluster.SiloOfAsync(candidate) == victimName)
            {
                id = candidate;
            }
        }

        Assert.NotNull(id);
        var running = sandboxes.RunInSessionAsync(id, "import time\nend = time.time() + 3\nwhile time.time() < end: pass\nx + 1");
        await Task.Delay(500);
        await cluster.StopSiloAsync(victim).WaitAsync(TimeSpan.FromSeconds(60));

        // The run in progress either finished before the silo let go of it, or is reported lost.
        var result = await running.WaitAsync(TestClusters.CallBound);
        Assert.True(result.SandboxLost || result.Value?.GetInt32() == 2, result.Error?.Summary);

        // Either way the state is gone now, and the next call says so unless the caller was already told.
        var next = await sandboxes.RunInSessionAsync(id, "x").WaitAsync(TestClusters.CallBound);
        Assert.True(result.SandboxLost ? !next.SandboxLost : next.SandboxLost, next.Error?.Summary);
        Assert.NotEqual(victimName, await cluster.SiloOfAsync(id));
    }
}
