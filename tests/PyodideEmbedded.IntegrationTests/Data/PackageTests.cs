namespace PyodideEmbedded.IntegrationTests;

/// <summary>A packages folder the tests build themselves: wheels written with System.IO.Compression, a manifest with their SHA-256.</summary>
public sealed class PackagesFolder : IAsyncLifetime
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("pe-it-packages-");

    public string Path => _folder.FullName;

    /// <summary>A sandbox started with <c>greet</c> installed (SandboxOptions.Packages).</summary>
    public PythonSandbox Sandbox { get; private set; } = null!;

    public SandboxOptions Options => TestOptions.Default with { PackagesPath = Path };

    public async Task InitializeAsync()
    {
        TestWheels.WriteManifest(Path,
            TestWheels.WriteGreet(Path),
            TestWheels.Write(Path, "calc_tools", "2.0", new Dictionary<string, string>
            {
                ["calc_tools/__init__.py"] = "from greet import hello\n\ndef double(x):\n    return 2 * x\n\ndef welcome(name):\n    return hello(name) + ' x' + str(double(1))\n",
            }),
            TestWheels.Write(Path, "fastmath", "1.0", new Dictionary<string, string> { ["fastmath/__init__.py"] = "" }, "cp314-cp314-pyodide_2025_0_wasm32"));
        Sandbox = await PythonSandbox.CreateAsync(Options with { Packages = ["greet"] });
    }

    public async Task DisposeAsync()
    {
        await Sandbox.DisposeAsync();
        _folder.Delete(recursive: true);
    }
}

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

/// <summary>Altered and hostile wheels: each test has a folder of its own (verified wheels are cached per folder).</summary>
public sealed class HostileWheelTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("pe-it-hostile-");

    public void Dispose() => _folder.Delete(recursive: true);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CreateAsync_TamperedWheel_ThrowsAssetExceptionNamingIt()
    {
        var name = TestWheels.WriteGreet(_folder.FullName);
        TestWheels.WriteManifest(_folder.FullName, name);
        await File.AppendAllTextAsync(Path.Combine(_folder.FullName, name), "\0");

        var e = await Assert.ThrowsAsync<SandboxAssetException>(() =>
            PythonSandbox.CreateAsync(TestOptions.Default with { PackagesPath = _folder.FullName, Packages = ["greet"] }));

        Assert.Contains("Checksum mismatch", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(name, e.FilePath, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task InstallPackageAsync_WheelEntriesEscapingSitePackages_AreRefusedAndNothingIsWritten()
    {
        var name = TestWheels.Write(_folder.FullName, "evil", "1.0", new Dictionary<string, string>
        {
            ["evil/__init__.py"] = "",
            ["../../json/__init__.py"] = "raise SystemExit('shadowed')\n",
        });
        TestWheels.WriteManifest(_folder.FullName, name);
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { PackagesPath = _folder.FullName });

        var e = await Assert.ThrowsAsync<SandboxAssetException>(() => sandbox.InstallPackageAsync("evil"));
        var after = await sandbox.RunAsync("import os, site, json\n[os.path.exists(site.getsitepackages()[0] + '/evil'), json.dumps(1)]");

        Assert.Contains("outside site-packages", e.Message, StringComparison.Ordinal);
        Assert.Equal("[false,\"1\"]", after.Value!.Value.GetRawText().Replace(" ", "", StringComparison.Ordinal));
        Assert.False(sandbox.IsFaulted);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task InstallPackageAsync_SymlinkPlantedInSitePackages_FaultsTheSandboxInsteadOfWritingThrough()
    {
        var name = TestWheels.WriteGreet(_folder.FullName);
        TestWheels.WriteManifest(_folder.FullName, name);
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { PackagesPath = _folder.FullName });
        var planted = await sandbox.RunAsync("import os, site\nsp = site.getsitepackages()[0]\nos.symlink('/tmp', sp + '/greet')\nsp");

        var e = await Assert.ThrowsAsync<SandboxFaultedException>(() => sandbox.InstallPackageAsync("greet"));

        Assert.True(planted.Succeeded, planted.Error?.Traceback);
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        Assert.True(sandbox.IsFaulted);
    }
}
