using System.Runtime.Versioning;
using System.Security.Cryptography;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>The start-up cache is input from disk (Unix: the test machines are Linux): every bad entry is a miss with a reason, never an exception or a wrong payload.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class CacheFolderTests : IDisposable
{
    private const string Name = "memory-image";
    private static readonly byte[] Key = SHA256.HashData("key A"u8);
    private static readonly byte[] OtherKey = SHA256.HashData("key B"u8);
    private static readonly byte[] Payload = RandomNumberGenerator.GetBytes(100_000);

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pe-cache-");

    public CacheFolderTests()
    {
        // Temp folders may be created group-writable under some umasks; the cache wants its own folder private.
        File.SetUnixFileMode(_root.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private string FolderPath => Path.Combine(_root.FullName, "cache");

    public void Dispose()
    {
        foreach (var folder in _root.EnumerateDirectories("*", SearchOption.AllDirectories).Prepend(_root))
        {
            File.SetUnixFileMode(folder.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _root.Delete(recursive: true);
    }

    [Fact]
    public void WrittenEntry_ReadsBackTheSamePayload()
    {
        var cache = new CacheFolder(FolderPath);

        Assert.Null(cache.TryWrite(Name, Key, s => s.Write(Payload)));
        using var entry = cache.TryRead(Name, Key, out var reason);

        Assert.Null(reason);
        Assert.Equal(Payload, entry!.Payload.ToArray());
    }

    [Fact]
    public void MissingEntry_IsAMiss()
    {
        var entry = new CacheFolder(FolderPath).TryRead(Name, Key, out var reason);

        Assert.Null(entry);
        Assert.Equal("missing", reason);
    }

    [Theory]
    [InlineData(CacheFolder.HeaderBytes + 5000, "checksum mismatch")]       // in the payload
    [InlineData(20, "made for another key")]                                // in the key
    [InlineData(0, "not a cache entry")]                                    // in the magic
    [InlineData(8, "another format version")]
    [InlineData(16 + CacheFolder.KeyBytes, "truncated or extended")]        // in the payload length
    [InlineData(16 + CacheFolder.KeyBytes + 8 + 3, "checksum mismatch")]    // in the checksum
    public void FlippedByte_AnywhereInTheEntry_IsRefusedWithItsReason(int offset, string expected)
    {
        var cache = WriteEntry();
        var file = cache.EntryPath(Name, Key);
        var bytes = File.ReadAllBytes(file);
        bytes[offset] ^= 0x40;
        File.WriteAllBytes(file, bytes);

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Equal(expected, reason);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(40)]
    [InlineData(CacheFolder.HeaderBytes)]
    [InlineData(CacheFolder.HeaderBytes + 99_999)]
    public void TruncatedEntry_IsRefused(int length)
    {
        var cache = WriteEntry();
        var file = cache.EntryPath(Name, Key);
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.SetLength(length);
        }

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void ExtendedEntry_IsRefused()
    {
        var cache = WriteEntry();
        File.AppendAllText(cache.EntryPath(Name, Key), "more");

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Equal("truncated or extended", reason);
    }

    [Fact]
    public void EntryOfAnotherKey_PlantedUnderThisKeysName_IsRefused()
    {
        var cache = new CacheFolder(FolderPath);
        Assert.Null(cache.TryWrite(Name, OtherKey, s => s.Write(Payload)));
        File.Copy(cache.EntryPath(Name, OtherKey), cache.EntryPath(Name, Key));

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Equal("made for another key", reason);
    }

    [Fact]
    public void Symlink_AtTheEntrysPath_IsRefusedEvenToAValidEntry()
    {
        var elsewhere = new CacheFolder(Path.Combine(_root.FullName, "elsewhere"));
        Assert.Null(elsewhere.TryWrite(Name, Key, s => s.Write(Payload)));
        var cache = new CacheFolder(FolderPath);
        Directory.CreateDirectory(FolderPath);
        File.CreateSymbolicLink(cache.EntryPath(Name, Key), elsewhere.EntryPath(Name, Key));

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Contains("not a regular file", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UnixFileMode.GroupWrite)]
    [InlineData(UnixFileMode.OtherWrite)]
    public void FolderWritableByOthers_IsNeitherReadNorWritten(UnixFileMode extra)
    {
        var cache = WriteEntry();
        File.SetUnixFileMode(FolderPath, File.GetUnixFileMode(FolderPath) | extra | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Contains("writable by other users", reason, StringComparison.Ordinal);
        Assert.Contains("writable by other users", cache.TryWrite(Name, OtherKey, s => s.Write(Payload)), StringComparison.Ordinal);
        Assert.False(File.Exists(cache.EntryPath(Name, OtherKey)));
    }

    [Fact]
    public void EntryWritableByOthers_IsRefused()
    {
        var cache = WriteEntry();
        var file = cache.EntryPath(Name, Key);
        File.SetUnixFileMode(file, File.GetUnixFileMode(file) | UnixFileMode.OtherWrite);

        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Contains("writable by other users", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void FolderAboveWritableByOthers_IsRefusedUnlessSticky()
    {
        var cache = WriteEntry();
        const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

        File.SetUnixFileMode(_root.FullName, Open);
        Assert.Null(cache.TryRead(Name, Key, out var reason));
        Assert.Contains(_root.FullName, reason, StringComparison.Ordinal);

        File.SetUnixFileMode(_root.FullName, Open | UnixFileMode.StickyBit); // like /tmp: others cannot replace our folder
        using var entry = cache.TryRead(Name, Key, out reason);
        Assert.Null(reason);
    }

    [Fact]
    public void FolderThatCannotBeMade_IsAProblemNotAnException()
    {
        var file = Path.Combine(_root.FullName, "a-file");
        File.WriteAllText(file, "");
        var cache = new CacheFolder(Path.Combine(file, "cache"));

        Assert.NotNull(cache.TryWrite(Name, Key, s => s.Write(Payload)));
        Assert.Null(cache.TryRead(Name, Key, out _));
    }

    [Fact]
    public void FailingWrite_LeavesNothingBehind()
    {
        var cache = new CacheFolder(FolderPath);

        Assert.Throws<InvalidOperationException>(() => cache.TryWrite(Name, Key, _ => throw new InvalidOperationException("the payload failed")));
        Assert.Empty(Directory.GetFiles(FolderPath, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void NewEntries_KeepOnlyTwoOlderKeysBesideTheCurrentOne()
    {
        var cache = new CacheFolder(FolderPath);
        for (var i = 0; i < 6; i++)
        {
            Assert.Null(cache.TryWrite(Name, SHA256.HashData([(byte)i]), s => s.Write(Payload)));
            File.SetLastWriteTimeUtc(cache.EntryPath(Name, SHA256.HashData([(byte)i])), DateTime.UtcNow.AddMinutes(i - 10));
        }

        Assert.Null(cache.TryWrite(Name, Key, s => s.Write(Payload)));

        var kept = Directory.GetFiles(FolderPath).Select(Path.GetFileName).Order().ToList();
        string?[] expected = [.. new[] { Key, SHA256.HashData([4]), SHA256.HashData([5]) }.Select(k => Path.GetFileName(cache.EntryPath(Name, k))).Order()];
        Assert.Equal(expected, kept);
    }

    [Fact]
    public async Task RacingWritersAndReaders_NeverSeeAPartialEntry()
    {
        var cache = new CacheFolder(FolderPath);
        using var stop = new CancellationTokenSource();
        var reads = 0;
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.Null(cache.TryWrite(Name, Key, s => s.Write(Payload)));
            }
        })).ToList();
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var entry = cache.TryRead(Name, Key, out var reason);
                if (entry is not null)
                {
                    Assert.Equal(Payload, entry.Payload.ToArray());
                    Interlocked.Increment(ref reads);
                }
                else
                {
                    Assert.Equal("missing", reason); // before the first rename only
                }
            }
        })).ToList();

        await Task.WhenAll(writers);
        stop.CancelAfter(TimeSpan.FromMilliseconds(200)); // the readers also read the last entry written
        await Task.WhenAll(readers);

        Assert.True(reads > 0);
        Assert.Equal([Path.GetFileName(cache.EntryPath(Name, Key))], Directory.GetFiles(FolderPath).Select(Path.GetFileName));
    }

    private CacheFolder WriteEntry()
    {
        var cache = new CacheFolder(FolderPath);
        Assert.Null(cache.TryWrite(Name, Key, s => s.Write(Payload)));
        return cache;
    }
}
