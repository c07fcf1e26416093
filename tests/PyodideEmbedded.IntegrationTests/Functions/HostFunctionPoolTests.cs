namespace PyodideEmbedded.IntegrationTests.Functions;

/// <summary>A pool grants its options' functions to every sandbox it starts.</summary>
public sealed class HostFunctionPoolTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Pool_GrantsTheFunctionsToEachSandbox_AndOnlyThose()
    {
        await using var pool = new SandboxPool(new SandboxPoolOptions
        {
            Sandbox = TestOptions.Default with { Functions = new SandboxFunctions().Add("add", (long a, long b) => a + b) },
            MinReady = 0,
            MaxSandboxes = 2,
        });

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => pool.RunAsync($"import host\n[host.add({i}, 1), sorted(host.__all__)]")));

        Assert.All(results, static r => Assert.True(r.Succeeded, r.Error?.Traceback));
        Assert.Equal(["[1, [\"HostFunctionError\", \"add\"]]", "[2, [\"HostFunctionError\", \"add\"]]", "[3, [\"HostFunctionError\", \"add\"]]"],
            results.Select(static r => r.Value!.Value.GetRawText()));
    }
}
