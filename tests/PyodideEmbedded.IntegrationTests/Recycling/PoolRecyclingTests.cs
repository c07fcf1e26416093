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
}
