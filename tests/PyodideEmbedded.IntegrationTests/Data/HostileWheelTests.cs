namespace PyodideEmbedded.IntegrationTests;

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
