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
