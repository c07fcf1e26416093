using System.Buffers.Binary;
using System.Security.Cryptography;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A folder of start-up artefacts kept between processes (the memory image). Everything read from it
/// is untrusted input: an entry is used only when the folder is one that no other user can write
/// (<see cref="FolderTrust"/>), and the entry is a regular file whose header names the expected key
/// and whose payload matches the SHA-256 in that header; anything else is a miss, never an error.
/// Entries are written to a temporary file and renamed into place, so a reader (or another process
/// writing the same entry) sees a whole file or none.
/// </summary>
internal sealed class CacheFolder(string path)
{
    public const int KeyBytes = 32;
    private const int FormatVersion = 1;
    internal const int HeaderBytes = 8 + 4 + 4 + KeyBytes + 8 + 32;
    private const long MaxEntryBytes = 1L << 30;
    private static ReadOnlySpan<byte> Magic => "PyEmbCa\0"u8;
    // Entries of other keys (other library or asset versions, which may still run on this machine)
    // kept beside the current one; older ones are deleted when an entry is written.
    private const int KeptOlderEntries = 2;
    private static readonly TimeSpan AbandonedTempAge = TimeSpan.FromHours(1);

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>
    /// The per-user cache folder: <c>$XDG_CACHE_HOME/pyodide-embedded</c> (else <c>~/.cache/…</c>) on
    /// Linux, <c>~/Library/Caches/PyodideEmbedded</c> on macOS, <c>%LOCALAPPDATA%\PyodideEmbedded\Cache</c>
    /// on Windows; null when the user has no home folder (then nothing is kept).
    /// </summary>
    public static string? DefaultPath
    {
        get
        {
            if (OperatingSystem.IsWindows())
            {
                var local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
                return local.Length == 0 ? null : System.IO.Path.Combine(local, "PyodideEmbedded", "Cache");
            }

            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (OperatingSystem.IsMacOS())
            {
                return home.Length == 0 ? null : System.IO.Path.Combine(home, "Library", "Caches", "PyodideEmbedded");
            }

            // XDG: a relative value is invalid and must be ignored.
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrEmpty(xdg) && System.IO.Path.IsPathRooted(xdg))
            {
                return System.IO.Path.Combine(xdg, "pyodide-embedded");
            }

            return home.Length == 0 ? null : System.IO.Path.Combine(home, ".cache", "pyodide-embedded");
        }
    }

    /// <summary>
    /// The payload of entry <paramref name="name"/> made for <paramref name="key"/> (the caller
    /// disposes it), or null with the reason: missing, or refused (untrusted folder or file, wrong
    /// format or key, truncated, altered).
    /// </summary>
    public Entry? TryRead(string name, ReadOnlySpan<byte> key, out string? reason)
    {
        var file = EntryPath(name, key);
        try
        {
            if (!File.Exists(file) && !Directory.Exists(file))
            {
                reason = "missing";
                return null;
            }

            if ((reason = FolderTrust.ProblemWithFolder(Path) ?? FolderTrust.ProblemWithFile(file)) is not null)
            {
                return null;
            }

            var bytes = ReadBounded(file);
            if ((reason = ProblemWithEntry(bytes.GetSpan(), key)) is not null)
            {
                ((IDisposable)bytes).Dispose();
                return null;
            }

            return new Entry(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>
    /// Writes entry <paramref name="name"/> for <paramref name="key"/>; returns null, or why not (and leaves
    /// nothing behind) when the folder cannot be made, is not trusted, or refuses the write: a read-only
    /// cache is not a failure.
    /// </summary>
    public string? TryWrite(string name, ReadOnlySpan<byte> key, Action<Stream> writePayload)
    {
        string? temp = null;
        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(Path);
            }
            else
            {
                Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            if (FolderTrust.ProblemWithFolder(Path) is { } untrusted)
            {
                return untrusted;
            }

            var file = EntryPath(name, key);
            temp = System.IO.Path.Combine(Path, $".{System.IO.Path.GetFileName(file)}.{Guid.NewGuid():N}.tmp");
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(new byte[HeaderBytes]);
                writePayload(stream);
                var payloadLength = stream.Length - HeaderBytes;
                stream.Position = HeaderBytes;
                var digest = SHA256.HashData(stream);
                stream.Position = 0;
                stream.Write(MakeHeader(key, payloadLength, digest));
            }

            File.Move(temp, file, overwrite: true);
            temp = null;
            DeleteStale(name, file);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
        finally
        {
            if (temp is not null)
            {
                TryDelete(temp);
            }
        }
    }

    internal string EntryPath(string name, ReadOnlySpan<byte> key) =>
        System.IO.Path.Combine(Path, $"{name}-{Convert.ToHexStringLower(key[..8])}.bin");

    private static byte[] MakeHeader(ReadOnlySpan<byte> key, long payloadLength, ReadOnlySpan<byte> digest)
    {
        var header = new byte[HeaderBytes];
        var span = header.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], FormatVersion);
        key.CopyTo(span[16..]);
        BinaryPrimitives.WriteInt64LittleEndian(span[(16 + KeyBytes)..], payloadLength);
        digest.CopyTo(span[(24 + KeyBytes)..]);
        return header;
    }

    private static string? ProblemWithEntry(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> key)
    {
        if (bytes.Length < HeaderBytes || !bytes[..8].SequenceEqual(Magic))
        {
            return "not a cache entry";
        }

        if (BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]) != FormatVersion)
        {
            return "another format version";
        }

        if (!bytes.Slice(16, KeyBytes).SequenceEqual(key))
        {
            return "made for another key";
        }

        var payload = bytes[HeaderBytes..];
        if (BinaryPrimitives.ReadInt64LittleEndian(bytes[(16 + KeyBytes)..]) != payload.Length)
        {
            return "truncated or extended";
        }

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(payload, digest);
        return CryptographicOperations.FixedTimeEquals(digest, bytes.Slice(24 + KeyBytes, 32)) ? null : "checksum mismatch";
    }

    private static NativeBuffer ReadBounded(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        if (stream.Length > MaxEntryBytes)
        {
            throw new IOException($"larger than {MaxEntryBytes} bytes");
        }

        var bytes = new NativeBuffer((int)stream.Length);
        try
        {
            stream.ReadExactly(bytes.GetSpan());
            return bytes;
        }
        catch
        {
            ((IDisposable)bytes).Dispose();
            throw;
        }
    }

    /// <summary>A cache entry's checked payload, in native memory until disposed.</summary>
    public sealed class Entry(NativeBuffer bytes) : IDisposable
    {
        public ReadOnlyMemory<byte> Payload => bytes.Memory[HeaderBytes..];

        public void Dispose() => ((IDisposable)bytes).Dispose();
    }

    private void DeleteStale(string name, string current)
    {
        var older = new DirectoryInfo(Path).EnumerateFiles($"{name}-*.bin")
            .Where(f => f.FullName != current)
            .OrderByDescending(f => f.LastWriteTimeUtc)
            .Skip(KeptOlderEntries);
        var abandoned = new DirectoryInfo(Path).EnumerateFiles($".{name}-*.tmp")
            .Where(f => DateTime.UtcNow - f.LastWriteTimeUtc > AbandonedTempAge);
        foreach (var file in older.Concat(abandoned).ToList())
        {
            TryDelete(file.FullName);
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another process may be using or deleting it; the next write tries again.
        }
    }
}
