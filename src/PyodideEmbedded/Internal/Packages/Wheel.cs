using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A checked wheel, unpacked on the host: the files to write under site-packages, by relative path.
/// Unpacking here (not with Python's zipfile in the sandbox) keeps every check in one place that code in
/// the sandbox cannot touch: entry names that would leave site-packages (absolute, <c>..</c>, backslashes),
/// native code, duplicate entries, and zip bombs (sizes are counted while inflating, not read from headers).
/// </summary>
internal sealed partial class Wheel
{
    private const int MaxEntries = 20_000;
    private const long MaxUnpackedBytes = 256L * 1024 * 1024;

    private Wheel(WheelName name, IReadOnlyList<KeyValuePair<string, byte[]>> files, long totalBytes)
    {
        Name = name;
        Files = files;
        TotalBytes = totalBytes;
    }

    public WheelName Name { get; }

    /// <summary>Paths relative to site-packages, with <c>/</c> separators, and their contents.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Files { get; }

    public long TotalBytes { get; }

    /// <exception cref="SandboxAssetException">The wheel is not a zip, not pure Python, or holds an entry it may not.</exception>
    public static Wheel Unpack(WheelName name, byte[] bytes, string filePath)
    {
        try
        {
            using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            return Unpack(name, zip, filePath);
        }
        catch (InvalidDataException e)
        {
            throw new SandboxAssetException(filePath, $"'{name.Entry.FileName}' is not a valid wheel (zip): {e.Message}");
        }
    }

    private static Wheel Unpack(WheelName name, ZipArchive zip, string filePath)
    {
        SandboxAssetException Refuse(string why) => new(filePath, $"'{name.Entry.FileName}' cannot be installed: {why}.");

        if (zip.Entries.Count > MaxEntries)
        {
            throw Refuse($"it has more than {MaxEntries} entries");
        }

        var files = new List<KeyValuePair<string, byte[]>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? wheelMetadata = null;
        long total = 0;
        foreach (var entry in zip.Entries)
        {
            var entryName = entry.FullName;
            if (entryName.EndsWith('/'))
            {
                continue; // a folder: created as its files are written
            }

            if (!IsSafeRelativePath(entryName))
            {
                throw Refuse($"the entry '{Show(entryName)}' would be written outside site-packages or is not a valid path");
            }

            if (NativeCode().IsMatch(entryName))
            {
                throw Refuse($"the entry '{Show(entryName)}' is native code; only pure-Python wheels can be installed");
            }

            var target = TargetPath(entryName);
            if (target is null)
            {
                continue; // scripts, headers, data: nothing a sandbox uses
            }

            if (!seen.Add(target))
            {
                throw Refuse($"it holds '{Show(target)}' twice");
            }

            var content = Inflate(entry, MaxUnpackedBytes - total) ?? throw Refuse($"it unpacks to more than {MaxUnpackedBytes} bytes");
            total += content.Length;
            files.Add(new(target, content));
            if (IsWheelMetadata(target, name))
            {
                wheelMetadata = Encoding.UTF8.GetString(content);
            }
        }

        if (wheelMetadata is null)
        {
            throw Refuse("it has no .dist-info/WHEEL file for this package");
        }

        if (!PurelibLine().IsMatch(wheelMetadata))
        {
            throw Refuse("its WHEEL file does not say 'Root-Is-Purelib: true'");
        }

        return new Wheel(name, files, total);
    }

    // Relative, '/'-separated, no '.', '..' or empty components, no backslash, colon or control character.
    internal static bool IsSafeRelativePath(string path) =>
        path.Length is > 0 and <= 1024
        && path.Split('/').All(static part => part.Length is > 0 and <= 255 && part is not "." and not ".."
            && !part.Any(static c => char.IsControl(c) || char.IsSurrogate(c) || c is '\\' or ':'));

    // Files under X.data/purelib or X.data/platlib belong in site-packages; the other .data folders do not.
    private static string? TargetPath(string entryName)
    {
        var parts = entryName.Split('/');
        if (!parts[0].EndsWith(".data", StringComparison.Ordinal) || !parts[0].Contains('-', StringComparison.Ordinal))
        {
            return entryName;
        }

        return parts.Length > 2 && parts[1] is ("purelib" or "platlib") ? string.Join('/', parts[2..]) : null;
    }

    private static bool IsWheelMetadata(string path, WheelName name)
    {
        var parts = path.Split('/');
        return parts is [var folder, "WHEEL"] && folder.EndsWith(".dist-info", StringComparison.Ordinal)
            && PackageStore.Normalize(folder[..^".dist-info".Length].Split('-')[0]) == name.NormalizedName;
    }

    private static byte[]? Inflate(ZipArchiveEntry entry, long room)
    {
        if (entry.Length > room)
        {
            return null;
        }

        using var source = entry.Open();
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = source.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + read > room)
            {
                return null; // the header lied about the size
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static string Show(string text) => ErrorText.Printable(text, 120);

    [GeneratedRegex(@"\.(so|pyd|dylib|dll)(\.[0-9]+)*$", RegexOptions.IgnoreCase)]
    private static partial Regex NativeCode();

    [GeneratedRegex(@"^Root-Is-Purelib:\s*true\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex PurelibLine();
}
