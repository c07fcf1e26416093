namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Host functions (SandboxOptions.Functions): calling one crosses into the host, so that reset takes a new isolate;
/// patching the <c>host</c> module without calling it is Python state, reset in place. B's functions work as granted.
/// </summary>
public sealed class HostFunctionPoisoningTests
{
    private static readonly SandboxOptions Options = TestOptions.Default with
    {
        Functions = new SandboxFunctions().Add("add", (long a, long b) => a + b, "Adds two integers."),
    };

    private const string Probe = "import host, sys, builtins\n[host.add(2, 3), 'secret_a' in globals(), hasattr(builtins, 'EVIL_A'), sys.modules['host'] is host]";

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostModulePatched_WithAndWithoutCalls_IsAsGrantedForTenantB()
    {
        await using var tenant = await RecyclingSandbox.CreateAsync(Options);

        // Patched, never called: in place.
        await tenant.PoisonAsync("import host, sys, builtins\nhost.add = lambda a, b: 'EVIL'\nsecret_a = 1\nbuiltins.EVIL_A = 1");
        await tenant.ResetAsync(ResetPath.InPlace);
        var first = await tenant.Sandbox.RunAsync("import host\nhost.__dict__.get('add').__name__");
        Assert.True(first.Succeeded, first.Error?.Summary);
        Assert.Equal("add", first.Value!.Value.GetString());

        // Called, then patched and replaced in sys.modules: a new isolate.
        await tenant.PoisonAsync("import host, sys, builtins\nassert host.add(1, 1) == 2\nhost.add = lambda a, b: 'EVIL'\nsys.modules['host'] = type(sys)('host')\nsecret_a = 1\nbuiltins.EVIL_A = 1");
        await tenant.ResetAsync(ResetPath.NewIsolate);
        Same.Json("[5,false,false,true]", await tenant.ValueAsync(Probe));
    }
}
