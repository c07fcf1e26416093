using System.Security.Cryptography;

namespace PyodideEmbedded.Internal;

/// <summary>
/// The verified contents of one Pyodide asset folder. Files are read once, checked against
/// <c>manifest.sha256</c> and kept in memory, so what a sandbox loads is exactly what was verified
/// (no window between the check and the use) and later sandboxes do not touch the disk.
/// </summary>
internal sealed class AssetStore
{
    internal const string ManifestFileName = "manifest.sha256";

    private static readonly OncePerFolder<AssetStore> s_byFolder = new(LoadUncached);

    private readonly Dictionary<string, byte[]> _files;

    private AssetStore(string version, Dictionary<string, byte[]> files, byte[] manifestSha256)
    {
        Version = version;
        _files = files;
        ManifestSha256 = manifestSha256;
    }

    /// <summary>The Pyodide version named in the manifest's first line.</summary>
    public string Version { get; }

    public IReadOnlyCollection<string> FileNames => _files.Keys;

    /// <summary>SHA-256 of the manifest, which names every file's SHA-256: what identifies these assets.</summary>
    public byte[] ManifestSha256 { get; }

    /// <summary>Loads and verifies a folder once per process; a failed load is retried on the next call.</summary>
    public static AssetStore Load(string folder) => s_byFolder.Get(folder);

    /// <summary>
    /// The folder's store if this process loaded it already, else null: later sandboxes take it at once
    /// instead of queueing on the thread pool, which V8's background compile jobs may be keeping busy.
    /// </summary>
    public static AssetStore? TryGetLoaded(string folder) => s_byFolder.TryGetLoaded(folder);

    /// <summary>Returns the bytes of a manifest file, or null for any name the manifest does not list.</summary>
    public byte[]? TryGet(string name) => _files.GetValueOrDefault(name);

    internal static AssetStore LoadUncached(string folder)
    {
        var manifestPath = Path.Combine(folder, ManifestFileName);
        if (!Directory.Exists(folder))
        {
            throw new SandboxAssetException(folder, $"The Pyodide asset folder '{folder}' does not exist.");
        }

        var manifestBytes = ReadVerifiedFile(folder, manifestPath, maxBytes: 64 * 1024);
        var manifest = AssetManifest.Parse(manifestBytes, manifestPath);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in manifest.Entries)
        {
            files.Add(entry.FileName, ReadChecked(folder, entry, "Pyodide asset"));
        }

        return new AssetStore(manifest.Version, files, SHA256.HashData(manifestBytes));
    }

    /// <summary>Reads a file that a manifest lists and checks its SHA-256; the bytes returned are the ones checked.</summary>
    internal static byte[] ReadChecked(string folder, AssetManifest.Entry entry, string kind)
    {
        var path = Path.Combine(folder, entry.FileName);
        var bytes = ReadVerifiedFile(folder, path, maxBytes: 256L * 1024 * 1024, kind);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (!string.Equals(actual, entry.Sha256, StringComparison.Ordinal))
        {
            throw new SandboxAssetException(path, $"Checksum mismatch for '{entry.FileName}': the manifest expects SHA-256 {entry.Sha256}, the file has {actual}.");
        }

        return bytes;
    }

    // Refuses links (a symlink inside the folder could point anywhere on the host) and over-large files.
    internal static byte[] ReadVerifiedFile(string folder, string path, long maxBytes, string kind = "Pyodide asset")
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new SandboxAssetException(path, $"Required {kind} '{info.Name}' is missing from {folder}.");
        }

        if (info.LinkTarget is not null)
        {
            throw new SandboxAssetException(path, $"{kind} '{info.Name}' is a symbolic link; only regular files inside the folder are read.");
        }

        if (info.Length > maxBytes)
        {
            throw new SandboxAssetException(path, $"{kind} '{info.Name}' is {info.Length} bytes, more than the {maxBytes} allowed.");
        }

        return File.ReadAllBytes(path);
    }
}
