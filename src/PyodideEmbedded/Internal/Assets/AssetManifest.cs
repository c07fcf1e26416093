using System.Text;
using System.Text.RegularExpressions;

namespace PyodideEmbedded.Internal;

/// <summary>
/// <c>manifest.sha256</c>: a first line <c># pyodide VERSION ...</c>, comment lines, then <c>sha256sum</c>
/// lines (<c>HEX  NAME</c>). Names must be plain file names: the folder is flat, so anything with a
/// separator, <c>..</c> or a scheme is an attempt to reach outside it.
/// </summary>
internal sealed partial record AssetManifest(string Version, IReadOnlyList<AssetManifest.Entry> Entries)
{
    internal sealed record Entry(string FileName, string Sha256);

    public static AssetManifest Parse(byte[] bytes, string manifestPath)
    {
        var (version, entries) = ParseLines(bytes, manifestPath);
        if (version is null)
        {
            throw new SandboxAssetException(manifestPath, "Manifest has no '# pyodide VERSION' line.");
        }

        foreach (var required in RequiredFiles)
        {
            if (!entries.Exists(e => e.FileName == required))
            {
                throw new SandboxAssetException(manifestPath, $"Manifest does not list the required file '{required}'.");
            }
        }

        return new AssetManifest(version, entries);
    }

    /// <summary>A manifest of other files (a packages folder): the same lines, without a version or required files.</summary>
    public static IReadOnlyList<Entry> ParseListing(byte[] bytes, string manifestPath) => ParseLines(bytes, manifestPath).Entries;

    private static (string? Version, List<Entry> Entries) ParseLines(byte[] bytes, string manifestPath)
    {
        var text = Encoding.UTF8.GetString(bytes);
        string? version = null;
        var entries = new List<Entry>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var versionMatch = VersionLine().Match(line);
                if (version is null && versionMatch.Success)
                {
                    version = versionMatch.Groups[1].Value;
                }

                continue;
            }

            var match = EntryLine().Match(line);
            if (!match.Success)
            {
                throw new SandboxAssetException(manifestPath, $"Manifest line {lineNumber} is not '<sha256>  <file name>': {Shorten(line)}");
            }

            var name = match.Groups[2].Value;
            if (!IsPlainFileName(name))
            {
                throw new SandboxAssetException(manifestPath, $"Manifest line {lineNumber} names '{Shorten(name)}', which is not a plain file name inside the asset folder.");
            }

            if (entries.Exists(e => e.FileName == name))
            {
                throw new SandboxAssetException(manifestPath, $"Manifest names '{name}' twice.");
            }

            entries.Add(new Entry(name, match.Groups[1].Value.ToLowerInvariant()));
        }

        return (version, entries);
    }

    /// <summary>What booting Pyodide reads; a manifest without one of these cannot work.</summary>
    internal static readonly string[] RequiredFiles =
        ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];

    internal static bool IsPlainFileName(string name) =>
        name.Length is > 0 and <= 255
        && name is not "." and not ".."
        && name.IndexOfAny(['/', '\\', ':', '\0']) < 0
        && !name.StartsWith('.');

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "...";

    [GeneratedRegex(@"^#\s*pyodide\s+(\S+)")]
    private static partial Regex VersionLine();

    [GeneratedRegex(@"^([0-9a-fA-F]{64}) [ *](.+)$")]
    private static partial Regex EntryLine();
}
