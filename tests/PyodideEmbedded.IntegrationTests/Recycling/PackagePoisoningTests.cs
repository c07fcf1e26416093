namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Packages: a reset returns to the packages of SandboxOptions.Packages. A start-time package patched by A is
/// Python state (in place); a package installed after the start wrote outside the writable folders (new isolate)
/// and must be gone for B.
/// </summary>
public sealed class PackagePoisoningTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("pe-it-recycling-packages-");

    public PackagePoisoningTests() => TestWheels.WriteManifest(_folder.FullName,
        TestWheels.WriteGreet(_folder.FullName),
        TestWheels.Write(_folder.FullName, "calc_tools", "2.0", new Dictionary<string, string> { ["calc_tools/__init__.py"] = "def double(x):\n    return 2 * x\n" }));

    public void Dispose() => _folder.Delete(recursive: true);

    private const string Probe = """
        import importlib.util, greet, sys
        [greet.hello('b'), sorted(n for n in dir(greet) if not n.startswith('__')), importlib.util.find_spec('calc_tools') is None,
         'calc_tools' in sys.modules]
        """;

    private Task<RecyclingSandbox> StartAsync() =>
        RecyclingSandbox.CreateAsync(TestOptions.Default with { PackagesPath = _folder.FullName, Packages = ["greet"] });

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task StartPackagePatched_IsRestoredInPlace()
    {
        await using var tenant = await StartAsync();
        var clean = await tenant.ValueAsync(Probe);

        await tenant.PoisonAsync("import greet\ngreet.hello = lambda name: 'EVIL'\ngreet.EVIL_A = 1");
        await tenant.ResetAsync(ResetPath.InPlace);
        Same.Json(clean, await tenant.ValueAsync(Probe), "the start's package after an in-place reset");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task StartPackages_AreThereAfterAResetOntoANewIsolate()
    {
        await using var tenant = await StartAsync();
        var clean = await tenant.ValueAsync(Probe);

        await tenant.PoisonAsync("import os\nos.chmod('/tmp', 0o700)"); // any reach past the reset will do
        await tenant.ResetAsync(ResetPath.NewIsolate);
        Same.Json(clean, await tenant.ValueAsync(Probe), "after a reset onto a new isolate");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PackageInstalledAfterTheStart_IsGoneAfterTheReset_AndCanBeInstalledAgain()
    {
        await using var tenant = await StartAsync();
        var clean = await tenant.ValueAsync(Probe);

        await tenant.Sandbox.InstallPackageAsync("calc_tools");
        await tenant.PoisonAsync("import calc_tools\nassert calc_tools.double(2) == 4");
        // The install wrote outside the writable folders: new isolate.
        await tenant.ResetAsync(ResetPath.NewIsolate);
        Same.Json(clean, await tenant.ValueAsync(Probe), "after a reset that followed an install");

        await tenant.Sandbox.InstallPackageAsync("calc_tools");
        Assert.Equal(6, (await tenant.ValueAsync("import calc_tools\ncalc_tools.double(3)")).GetInt32());
    }
}
