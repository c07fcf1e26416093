using System.Security.Cryptography;
using System.Text;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class AssetStoreTests : IDisposable
{
    private static readonly string Shipped = Path.Combine(AppContext.BaseDirectory, "pyodide-dist");
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("pe-assets-");

    public void Dispose() => _folder.Delete(recursive: true);

    [Fact]
    public void LoadUncached_ShippedAssets_VerifiesEveryManifestFile()
    {
        var store = AssetStore.LoadUncached(Shipped);

        Assert.Equal("314.0.7", store.Version);
        Assert.Equal(AssetManifest.RequiredFiles.Order(), store.FileNames.Order());
    }

    [Fact]
    public void LoadUncached_TamperedFile_ThrowsNamingIt()
    {
        CopyShipped();
        File.AppendAllText(Path.Combine(_folder.FullName, "pyodide.mjs"), "\n// injected");

        var e = Assert.Throws<SandboxAssetException>(() => AssetStore.LoadUncached(_folder.FullName));

        Assert.EndsWith("pyodide.mjs", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("Checksum mismatch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadUncached_MissingFile_ThrowsNamingIt()
    {
        CopyShipped();
        File.Delete(Path.Combine(_folder.FullName, "python_stdlib.zip"));

        var e = Assert.Throws<SandboxAssetException>(() => AssetStore.LoadUncached(_folder.FullName));

        Assert.EndsWith("python_stdlib.zip", e.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadUncached_SymlinkedAsset_IsRefused()
    {
        CopyShipped();
        var target = Path.Combine(_folder.FullName, "pyodide.mjs");
        var moved = Path.Combine(Path.GetTempPath(), $"pe-moved-{Guid.NewGuid():N}.mjs");
        File.Move(target, moved);
        try
        {
            File.CreateSymbolicLink(target, moved);

            var e = Assert.Throws<SandboxAssetException>(() => AssetStore.LoadUncached(_folder.FullName));

            Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(moved);
        }
    }

    [Fact]
    public void LoadUncached_FileNotInManifest_IsNeverServed()
    {
        CopyShipped();
        File.WriteAllText(Path.Combine(_folder.FullName, "extra.mjs"), "export const x = 1;");

        var store = AssetStore.LoadUncached(_folder.FullName);

        Assert.Null(store.TryGet("extra.mjs"));
        Assert.Null(store.TryGet("manifest.sha256"));
        Assert.Null(store.TryGet("../pyodide-dist/pyodide.mjs"));
    }

    [Fact]
    public void LoadUncached_MissingFolder_Throws()
    {
        var e = Assert.Throws<SandboxAssetException>(() => AssetStore.LoadUncached(Path.Combine(_folder.FullName, "nope")));

        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SameFolderTwice_ReadsItOnce()
    {
        Assert.Same(AssetStore.Load(Shipped), AssetStore.Load(Shipped + Path.DirectorySeparatorChar));
    }

    private void CopyShipped()
    {
        foreach (var file in Directory.EnumerateFiles(Shipped))
        {
            File.Copy(file, Path.Combine(_folder.FullName, Path.GetFileName(file)));
        }
    }
}

public sealed class AssetManifestTests
{
    private static readonly string ValidBody = string.Concat(AssetManifest.RequiredFiles.Select(f => $"{new string('a', 64)}  {f}\n"));

    [Fact]
    public void Parse_ValidManifest_ReadsVersionAndEntries()
    {
        var manifest = Parse("# pyodide 1.2.3 (sha512-x)\n# comment\n" + ValidBody);

        Assert.Equal("1.2.3", manifest.Version);
        Assert.Equal(5, manifest.Entries.Count);
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/file.mjs")]
    [InlineData("..\\win.ini")]
    [InlineData("file://x.mjs")]
    [InlineData(".hidden")]
    public void Parse_NameOutsideTheFolder_IsRefused(string name)
    {
        var e = Assert.Throws<SandboxAssetException>(() => Parse($"# pyodide 1\n{ValidBody}{new string('b', 64)}  {name}\n"));

        Assert.Contains("not a plain file name", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("# pyodide 1\nnot a line\n", "is not")]
    [InlineData("", "no '# pyodide VERSION' line")]
    [InlineData("# pyodide 1\n", "required file")]
    public void Parse_Malformed_SaysWhy(string text, string expected)
    {
        var e = Assert.Throws<SandboxAssetException>(() => Parse(text));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateName_IsRefused()
    {
        Assert.Throws<SandboxAssetException>(() => Parse("# pyodide 1\n" + ValidBody + $"{new string('c', 64)}  pyodide.mjs\n"));
    }

    [Fact]
    public void ShippedManifest_MatchesTheFilesBesideIt()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "pyodide-dist");
        var manifest = AssetManifest.Parse(File.ReadAllBytes(Path.Combine(folder, "manifest.sha256")), "manifest.sha256");

        foreach (var entry in manifest.Entries)
        {
            using var stream = File.OpenRead(Path.Combine(folder, entry.FileName));
            Assert.Equal(entry.Sha256, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
    }

    private static AssetManifest Parse(string text) => AssetManifest.Parse(Encoding.UTF8.GetBytes(text), "manifest.sha256");
}
