using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace PyodideEmbedded.Tests.Shared;

/// <summary>Builds small wheels and their manifest, as a user's packages folder would hold them.</summary>
internal static class TestWheels
{
    /// <summary>Writes <c>{dist}-{version}-{tag}.whl</c> with the given files plus a dist-info folder; returns the file name.</summary>
    public static string Write(string folder, string dist, string version, IReadOnlyDictionary<string, string> files,
        string tag = "py3-none-any", bool purelib = true, IEnumerable<KeyValuePair<string, byte[]>>? rawEntries = null)
    {
        var fileName = $"{dist}-{version}-{tag}.whl";
        var distInfo = $"{dist}-{version}.dist-info";
        using var stream = File.Create(Path.Combine(folder, fileName));
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create);
        var record = new StringBuilder();
        void Add(string name, byte[] bytes)
        {
            var entry = zip.CreateEntry(name, CompressionLevel.Fastest);
            using var entryStream = entry.Open();
            entryStream.Write(bytes);
            record.Append(name).Append(",sha256=").Append(Convert.ToBase64String(SHA256.HashData(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_')).Append(',').Append(bytes.Length).Append('\n');
        }

        foreach (var (name, text) in files)
        {
            Add(name, Encoding.UTF8.GetBytes(text));
        }

        foreach (var (name, bytes) in rawEntries ?? [])
        {
            Add(name, bytes);
        }

        Add($"{distInfo}/METADATA", Encoding.UTF8.GetBytes($"Metadata-Version: 2.1\nName: {dist.Replace('_', '-')}\nVersion: {version}\n"));
        Add($"{distInfo}/WHEEL", Encoding.UTF8.GetBytes($"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: {(purelib ? "true" : "false")}\nTag: {tag}\n"));
        var recordEntry = zip.CreateEntry($"{distInfo}/RECORD");
        using (var writer = new StreamWriter(recordEntry.Open()))
        {
            writer.Write(record.Append(distInfo).Append("/RECORD,,\n").ToString());
        }

        return fileName;
    }

    /// <summary>Writes <c>manifest.sha256</c> naming the given files of the folder with their SHA-256.</summary>
    public static void WriteManifest(string folder, params string[] fileNames)
    {
        var lines = new StringBuilder("# packages for tests\n");
        foreach (var name in fileNames)
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, name))));
            lines.Append(hash).Append("  ").Append(name).Append('\n');
        }

        File.WriteAllText(Path.Combine(folder, "manifest.sha256"), lines.ToString());
    }

    /// <summary>A module <c>greet</c> with <c>hello(name)</c>, as the one-line test package.</summary>
    public static string WriteGreet(string folder, string version = "1.0") =>
        Write(folder, "greet", version, new Dictionary<string, string>
        {
            ["greet/__init__.py"] = "from .words import WORD\n\ndef hello(name):\n    return f'{WORD}, {name}!'\n",
            ["greet/words.py"] = "WORD = 'Hello'\n",
        });
}
