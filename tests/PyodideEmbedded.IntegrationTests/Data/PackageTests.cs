namespace PyodideEmbedded.IntegrationTests;

/// <summary>Offline packages: pure-Python wheels from a checked local folder, installed at start or on demand.</summary>
public sealed class PackageTests(PackagesFolder packages) : IClassFixture<PackagesFolder>
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Packages_InstalledAtStart_ImportAndRun()
    {
        var result = await packages.Sandbox.RunAsync("import greet, importlib.metadata\n[greet.hello('Ada'), importlib.metadata.version('greet'), greet.__file__]");

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.Equal("Hello, Ada!", result.Value!.Value[0].GetString());
        Assert.Equal("1.0", result.Value.Value[1].GetString());
        Assert.EndsWith("/site-packages/greet/__init__.py", result.Value.Value[2].GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task InstallPackageAsync_AfterAFailedImport_MakesItImportable()
    {
        var before = await packages.Sandbox.RunAsync("import calc_tools");
        await packages.Sandbox.InstallPackageAsync("Calc-Tools");
        await packages.Sandbox.InstallPackageAsync("calc_tools"); // again: nothing to do
        var after = await packages.Sandbox.RunAsync("import calc_tools\ncalc_tools.welcome('Bob')");

        Assert.Equal("ModuleNotFoundError", before.Error!.TypeName);
        Assert.Equal("Hello, Bob! x2", after.Value!.Value.GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task InstallPackageAsync_UnknownOrNativeOrHostileName_ThrowsArgumentException()
    {
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => packages.Sandbox.InstallPackageAsync("numpy"));
        var native = await Assert.ThrowsAsync<ArgumentException>(() => packages.Sandbox.InstallPackageAsync("fastmath"));
        await Assert.ThrowsAsync<ArgumentException>(() => packages.Sandbox.InstallPackageAsync("../../lib/python3.14/os"));
        await Assert.ThrowsAsync<ArgumentException>(() => packages.Sandbox.InstallPackageAsync("greet==9.9"));

        Assert.Contains("no wheel for 'numpy'", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("greet==1.0", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("not a pure-Python wheel", native.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await packages.Sandbox.RunAsync("1 + 1")).Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CreateAsync_UnknownPackage_ThrowsBeforeStarting()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => PythonSandbox.CreateAsync(packages.Options with { Packages = ["greet", "nope"] }));

        Assert.Contains("'nope'", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task InstallPackageAsync_WithoutPackagesPath_ThrowsInvalidOperation()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        await Assert.ThrowsAsync<InvalidOperationException>(() => sandbox.InstallPackageAsync("greet"));
    }
}
