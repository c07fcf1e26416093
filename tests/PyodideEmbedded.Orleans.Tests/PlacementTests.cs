using PyodideEmbedded.Orleans.Internal;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>The placement choice alone (no sandbox starts): room first, then a ready sandbox, then the most room.</summary>
public sealed class PlacementTests
{
    private static readonly SiloAddress s_a = SiloAddress.FromParsableString("127.0.0.1:11111@1");
    private static readonly SiloAddress s_b = SiloAddress.FromParsableString("127.0.0.1:11112@1");
    private static readonly SiloAddress s_c = SiloAddress.FromParsableString("127.0.0.1:11113@1");

    [Fact]
    public void SiloAtMaxSandboxes_TakesNoNewSession_WhileAnotherHasRoom()
    {
        var cache = NewCache();
        cache.Update([Load(s_a, inUse: 4, ready: 1), Load(s_b, inUse: 1, ready: 0), Load(s_c, inUse: 2, ready: 0, memory: false)]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(s_b, cache.Choose([s_a, s_b, s_c])); // a is full, c is short of memory; b has 3 places
        }
    }

    [Fact]
    public void ReadySandbox_IsPreferred_ThenTheMostRoom()
    {
        var cache = NewCache();
        cache.Update([Load(s_a, inUse: 0, ready: 0), Load(s_b, inUse: 2, ready: 1)]);
        Assert.Equal(s_b, cache.Choose([s_a, s_b])); // b has a sandbox ready
        Assert.Equal(s_a, cache.Choose([s_a, s_b])); // b's ready one was just given; a has the most room
    }

    [Fact]
    public void BurstOfPlacements_SpreadsBeforeTheNextReport()
    {
        var cache = NewCache();
        cache.Update([Load(s_a, 0, 0), Load(s_b, 0, 0), Load(s_c, 0, 0)]);
        var counts = Enumerable.Range(0, 30).Select(_ => cache.Choose([s_a, s_b, s_c])).GroupBy(s => s).Select(g => g.Count()).ToList();
        Assert.Equal(3, counts.Count);
        Assert.All(counts, n => Assert.Equal(10, n));
    }

    private static SandboxLoadCache NewCache() =>
        new(new PythonSandboxSiloOptions { LoadReportInterval = TimeSpan.FromMinutes(1), Pool = new SandboxPoolOptions { MaxSandboxes = 4 } });

    private static SiloSandboxLoad Load(SiloAddress silo, int inUse, int ready, bool memory = true) =>
        new() { Silo = silo, InUse = inUse, Ready = ready, MaxSandboxes = 4, MemoryForMore = memory, ReportedAt = DateTime.UtcNow };
}

/// <summary>Placement in a running cluster: a silo at its MaxSandboxes takes no new session while another has room.</summary>
public sealed class PlacementInClusterTests
{
    [Fact(Timeout = 120_000)]
    public async Task SessionsFillBothSilos_NoSiloPastItsMaxSandboxes()
    {
        const int MaxPerSilo = 3;
        await using var cluster = await TestClusters.StartAsync(2, new SandboxPoolOptions
        {
            MinReady = 1,
            MaxSandboxes = MaxPerSilo,
            Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(5) },
        });
        var sandboxes = cluster.Sandboxes();
        var ids = Enumerable.Range(0, 2 * MaxPerSilo).Select(i => $"fill-{i}-{Guid.NewGuid():N}").ToArray();

        // One at a time, as sessions arrive: every silo's placement sees the loads reported since.
        foreach (var id in ids)
        {
            (await sandboxes.RunInSessionAsync(id, "x = 1").WaitAsync(TestClusters.CallBound)).ThrowIfError();
            // Each silo places the sessions its gateway receives, from loads the others reported: a report reaches the
            // board and then every silo within two report intervals (250 ms here), so wait past that.
            await Task.Delay(800);
        }

        var perSilo = new Dictionary<string, int>();
        foreach (var id in ids)
        {
            var silo = await cluster.SiloOfAsync(id);
            perSilo[silo] = perSilo.GetValueOrDefault(silo) + 1;
        }

        Assert.Equal(2, perSilo.Count);
        Assert.All(perSilo.Values, n => Assert.Equal(MaxPerSilo, n));
        Assert.All(cluster.Silos, s => Assert.Equal(MaxPerSilo, s.Local().Pool.SessionCount));
    }
}
