using System.IO.Compression;
using System.Text;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class PackageStoreTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("pe-packages-");

    public void Dispose() => _folder.Delete(recursive: true);

    private string Folder => _folder.FullName;

    private PackageStore Store(params string[] wheels)
    {
        TestWheels.WriteManifest(Folder, wheels);
        return PackageStore.LoadUncached(Folder);
    }

    [Fact]
    public void Get_PureWheel_UnpacksItsFilesForSitePackages()
    {
        var store = Store(TestWheels.WriteGreet(Folder));

        var wheel = store.Get("greet", "name");

        Assert.Contains(wheel.Files, f => f.Key == "greet/__init__.py");
        Assert.Contains(wheel.Files, f => f.Key == "greet-1.0.dist-info/METADATA");
        Assert.Equal(wheel.Files.Sum(f => (long)f.Value.Length), wheel.TotalBytes);
    }

    [Theory]
    [InlineData("Calc-Tools")]
    [InlineData("calc_tools")]
    [InlineData("calc.tools")]
    [InlineData("calc-tools==2.0")]
    public void Get_NameNormalizedAsPep503(string request)
    {
        var store = Store(TestWheels.Write(Folder, "calc_tools", "2.0", new Dictionary<string, string> { ["calc_tools/__init__.py"] = "" }));

        Assert.Equal("calc_tools-2.0-py3-none-any.whl", store.Get(request, "name").Name.Entry.FileName);
    }

    [Fact]
    public void Get_UnknownName_ThrowsListingWhatIsThere()
    {
        var store = Store(TestWheels.WriteGreet(Folder));

        var e = Assert.Throws<ArgumentException>(() => store.Get("numpy", "name"));

        Assert.Contains("no wheel for 'numpy'", e.Message, StringComparison.Ordinal);
        Assert.Contains("greet==1.0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_SeveralVersions_AsksForOne()
    {
        var store = Store(TestWheels.WriteGreet(Folder, "1.0"), TestWheels.WriteGreet(Folder, "2.0"));

        Assert.Throws<ArgumentException>(() => store.Get("greet", "name"));
        Assert.Equal("2.0", store.Get("greet==2.0", "name").Name.Version);
    }

    [Theory]
    [InlineData("cp312-cp312-manylinux_2_17_x86_64")]
    [InlineData("cp313-cp313-pyodide_2025_0_wasm32")]
    [InlineData("py3-none-win_amd64")]
    [InlineData("py2-none-any")]
    public void Get_NotPurePython_IsRefused(string tag)
    {
        var store = Store(TestWheels.Write(Folder, "native", "1.0", new Dictionary<string, string> { ["native/__init__.py"] = "" }, tag));

        var e = Assert.Throws<ArgumentException>(() => store.Get("native", "name"));

        Assert.Contains("not a pure-Python wheel", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("evil/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("evil==1.0/../x")]
    [InlineData("")]
    [InlineData("-x")]
    public void CheckRequest_NotAPackageName_IsRefused(string request)
    {
        Assert.Throws<ArgumentException>(() => PackageStore.CheckRequest(request, "name"));
    }

    [Fact]
    public void Get_TamperedWheel_ThrowsAssetExceptionNamingIt()
    {
        var name = TestWheels.WriteGreet(Folder);
        var store = Store(name);
        File.AppendAllText(Path.Combine(Folder, name), "tampered");

        var e = Assert.Throws<SandboxAssetException>(() => store.Get("greet", "name"));

        Assert.Contains("Checksum mismatch", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(name, e.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_SymlinkedWheel_IsRefused()
    {
        var name = TestWheels.WriteGreet(Folder);
        var store = Store(name);
        var moved = Path.Combine(Path.GetTempPath(), $"pe-moved-{Guid.NewGuid():N}.whl");
        File.Move(Path.Combine(Folder, name), moved);
        try
        {
            File.CreateSymbolicLink(Path.Combine(Folder, name), moved);

            var e = Assert.Throws<SandboxAssetException>(() => store.Get("greet", "name"));

            Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(moved);
        }
    }

    [Theory]
    [InlineData("../evil-1.0-py3-none-any.whl")]
    [InlineData("sub/evil-1.0-py3-none-any.whl")]
    [InlineData(".evil-1.0-py3-none-any.whl")]
    [InlineData("evil.zip")]
    [InlineData("evil-py3-none-any.whl")]
    public void LoadUncached_ManifestNamingAnythingButAPlainWheel_IsRefused(string listed)
    {
        File.WriteAllText(Path.Combine(Folder, "manifest.sha256"), $"{new string('a', 64)}  {listed}\n");

        Assert.Throws<SandboxAssetException>(() => PackageStore.LoadUncached(Folder));
    }

    [Fact]
    public void LoadUncached_MissingFolderOrManifest_IsAnAssetError()
    {
        Assert.Throws<SandboxAssetException>(() => PackageStore.LoadUncached(Path.Combine(Folder, "nope")));
        Assert.Throws<SandboxAssetException>(() => PackageStore.LoadUncached(Folder));
    }

    public static TheoryData<string> HostileEntries => new()
    {
        "../../../lib/python3.14/os.py",
        "greet/../../os.py",
        "/lib/python3.14/os.py",
        "greet\\..\\..\\os.py",
        "C:/evil.py",
        "greet//x.py",
        "greet/./x.py",
        "greet/native.so",
        "greet/native.cpython-314-wasm32-emscripten.so",
        "greet/lib.pyd",
        "greet/x\u0001.py",
    };

    [Theory]
    [MemberData(nameof(HostileEntries))]
    public void Get_WheelWithHostileEntry_IsRefusedAsAnAsset(string entry)
    {
        var name = TestWheels.Write(Folder, "greet", "1.0", new Dictionary<string, string> { ["greet/__init__.py"] = "" },
            rawEntries: [new(entry, Encoding.UTF8.GetBytes("import os\n"))]);
        var store = Store(name);

        var e = Assert.Throws<SandboxAssetException>(() => store.Get("greet", "name"));

        Assert.Contains("cannot be installed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_WheelNotRootIsPurelib_IsRefused()
    {
        var store = Store(TestWheels.Write(Folder, "greet", "1.0", new Dictionary<string, string> { ["greet/__init__.py"] = "" }, purelib: false));

        var e = Assert.Throws<SandboxAssetException>(() => store.Get("greet", "name"));

        Assert.Contains("Root-Is-Purelib", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_NotAZip_IsRefused()
    {
        File.WriteAllText(Path.Combine(Folder, "greet-1.0-py3-none-any.whl"), "not a zip");
        var store = Store("greet-1.0-py3-none-any.whl");

        var e = Assert.Throws<SandboxAssetException>(() => store.Get("greet", "name"));

        Assert.Contains("not a valid wheel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_DataFolders_OnlyPurelibIsInstalled()
    {
        var store = Store(TestWheels.Write(Folder, "greet", "1.0", new Dictionary<string, string>
        {
            ["greet/__init__.py"] = "",
            ["greet-1.0.data/purelib/extra/__init__.py"] = "X = 1\n",
            ["greet-1.0.data/scripts/greet-cli"] = "#!python\n",
        }));

        var files = store.Get("greet", "name").Files.Select(f => f.Key).ToList();

        Assert.Contains("extra/__init__.py", files);
        Assert.DoesNotContain(files, f => f.Contains("scripts", StringComparison.Ordinal) || f.Contains(".data", StringComparison.Ordinal));
    }

    [Fact]
    public void Get_EntryInflatingPastItsHeader_IsRefused()
    {
        // A zip bomb: one entry of 300 MiB of zeros (a few hundred KiB compressed).
        var name = "bomb-1.0-py3-none-any.whl";
        using (var zip = new ZipArchive(File.Create(Path.Combine(Folder, name)), ZipArchiveMode.Create))
        {
            using var stream = zip.CreateEntry("bomb/__init__.py", CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 300; i++)
            {
                stream.Write(zeros);
            }
        }

        var store = Store(name);

        var e = Assert.Throws<SandboxAssetException>(() => store.Get("bomb", "name"));

        Assert.Contains("unpacks to more than", e.Message, StringComparison.Ordinal);
    }
}
