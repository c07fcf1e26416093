using System.Security.Cryptography;
using System.Text;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

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
