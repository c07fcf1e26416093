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
