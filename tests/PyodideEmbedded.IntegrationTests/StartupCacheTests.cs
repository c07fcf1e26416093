using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// The start-up cache from the outside, as a user meets it: <c>--cache-dir</c> and <c>prepare</c> on the CLI, each run in
/// a fresh process. A bad cache (altered, untrusted, two processes writing it at once) costs a boot, never a wrong run.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class StartupCacheTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pe-startup-cache-");

    public StartupCacheTests() => File.SetUnixFileMode(_root.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    private string CacheDir => Path.Combine(_root.FullName, "cache");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public async Task SecondProcess_StartsFromTheKeptImage_WithoutRewritingIt()
    {
        await RunAsync("import sys\nsys.version_info[:2]", "[3, 14]");
        var image = ImageFile();
        var written = File.ReadAllBytes(image);
        var writtenAt = File.GetLastWriteTimeUtc(image);
        Assert.Single(Directory.GetFiles(CacheDir, "code-cache-*.bin"));

        await RunAsync("x = 4\nx + 5", "9");

        Assert.Equal(image, ImageFile());
        Assert.Equal(writtenAt, File.GetLastWriteTimeUtc(image));
        Assert.Equal(written, File.ReadAllBytes(image));
    }

    [Fact]
    public async Task AlteredImage_IsIgnoredAndReplaced_AndTheRunIsRight()
    {
        Assert.DoesNotContain("warning", await RunAsync("1", "1"), StringComparison.Ordinal); // a first run is not a problem
        var image = ImageFile();
        var altered = File.ReadAllBytes(image);
        altered[altered.Length / 2] ^= 0xFF;
        File.WriteAllBytes(image, altered);

        await RunAsync("sum(range(10))", "45");

        Assert.NotEqual(altered, File.ReadAllBytes(image));
        var replacedAt = File.GetLastWriteTimeUtc(image);
        await RunAsync("2 ** 10", "1024");
        Assert.Equal(replacedAt, File.GetLastWriteTimeUtc(image)); // the replacement is whole: used, not replaced again
    }

    [Fact]
    public async Task ImageThatPassesItsChecksButDoesNotRestore_IsReplacedByABoot_AndTheRunIsRight()
    {
        await RunAsync("1", "1");
        var image = ImageFile();
        // A planted (or wrongly made) entry: Pyodide's own magic number spoiled inside the payload, and the entry's
        // checksum made to match, so only the restore itself can tell.
        var bytes = File.ReadAllBytes(image);
        const int EntryHeader = 88, DigestAt = 56, PyodideMagicAt = EntryHeader + 4;
        bytes[PyodideMagicAt] ^= 0xFF;
        System.Security.Cryptography.SHA256.HashData(bytes.AsSpan(EntryHeader)).CopyTo(bytes.AsSpan(DigestAt));
        File.WriteAllBytes(image, bytes);

        await RunAsync("sum(range(10))", "45");

        Assert.NotEqual(bytes, File.ReadAllBytes(image));
        await RunAsync("2 ** 10", "1024");
    }

    [Fact]
    public async Task TwoProcessesWithAnEmptyCache_BothRun_AndLeaveOneWholeImage()
    {
        var first = RunAsync("'a' * 3", "aaa");
        var second = RunAsync("'b' * 3", "bbb");
        await Task.WhenAll(first, second);

        Assert.Single(Directory.GetFiles(CacheDir, "memory-image-*.bin"));
        Assert.Empty(Directory.GetFiles(CacheDir, "*.tmp"));
        await RunAsync("3 * 3", "9"); // and the image left behind starts a third
    }

    [Fact]
    public async Task FolderWritableByOthers_IsNotUsed_AndPrepareSaysWhy()
    {
        Directory.CreateDirectory(CacheDir);
        File.SetUnixFileMode(CacheDir, (UnixFileMode)0b111_111_111);

        var warned = await RunAsync("6 * 7", "42");
        Assert.Empty(Directory.GetFiles(CacheDir));
        Assert.Contains("warning: The start-up cache in", warned, StringComparison.Ordinal);
        Assert.Contains("writable by other users", warned, StringComparison.Ordinal);

        var (exitCode, _, stderr) = await CliProcess.RunToEndAsync("prepare", "--cache-dir", CacheDir);
        Assert.Equal(4, exitCode);
        Assert.Contains("writable by other users", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prepare_FillsTheFolder_AndARunUsesItReadOnly()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("prepare", "--cache-dir", CacheDir);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains(ImageFile(), stdout, StringComparison.Ordinal);

        // As a container image would ship it: nothing may be written there any more.
        File.SetUnixFileMode(CacheDir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            await RunAsync("len('prepared')", "8");
        }
        finally
        {
            File.SetUnixFileMode(CacheDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task NoCache_WritesNothing()
    {
        var (exitCode, stdout, _) = await CliProcess.RunToEndAsync("run", "--no-cache", "4 + 5");

        Assert.Equal(0, exitCode);
        Assert.Equal("9", stdout.Trim());
        Assert.False(Directory.Exists(CacheDir));
    }

    [Fact]
    public async Task PrepareInAProcessThatUsesAnotherFolder_SaysSo()
    {
        // This test process's sandboxes keep their start-up state in the default folder (or none).
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(
            () => PythonSandbox.PrepareStartupCacheAsync(TestOptions.Default with { StartupCachePath = CacheDir }));
        Assert.Contains(CacheDir, e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => PythonSandbox.PrepareStartupCacheAsync(TestOptions.Default with { StartupCachePath = null }));
    }

    [Fact]
    public async Task TheFirstSandboxOfAProcess_LogsWhereItsImageCameFrom_AndWarnsOfAnUnusableFolder()
    {
        // A copy of the assets is a new asset folder to this process: its first sandbox makes or reads its image anew.
        async Task<IReadOnlyList<string>> StartLogsAsync(string cacheDir)
        {
            var assets = Path.Combine(_root.FullName, $"assets-{Guid.NewGuid():N}");
            Directory.CreateDirectory(assets);
            foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "pyodide-dist")))
            {
                File.Copy(file, Path.Combine(assets, Path.GetFileName(file)));
            }

            using var telemetry = new TelemetryCapture();
            await using (await PythonSandbox.CreateAsync(telemetry.Apply(TestOptions.Default with { AssetsPath = assets, StartupCachePath = cacheDir })))
            {
            }

            return [.. telemetry.Logs.Where(l => l.Id.Id is 13 or 14 or 15).Select(l => $"{l.Level} {l.Id.Name}: {l.Message}")];
        }

        var untrusted = Path.Combine(_root.FullName, "shared");
        Directory.CreateDirectory(untrusted);
        File.SetUnixFileMode(untrusted, (UnixFileMode)0b111_111_111);
        var warning = Assert.Single(await StartLogsAsync(untrusted));
        Assert.StartsWith($"{LogLevel.Warning} StartupCacheUnusable", warning, StringComparison.Ordinal);
        Assert.Contains("writable by other users", warning, StringComparison.Ordinal);

        Assert.StartsWith($"{LogLevel.Information} StartupImageBooted", Assert.Single(await StartLogsAsync(CacheDir)), StringComparison.Ordinal);
        Assert.StartsWith($"{LogLevel.Information} StartupImageFromCache", Assert.Single(await StartLogsAsync(CacheDir)), StringComparison.Ordinal);
    }

    private string ImageFile() => Assert.Single(Directory.GetFiles(CacheDir, "memory-image-*.bin"));

    private async Task<string> RunAsync(string code, string expected)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--cache-dir", CacheDir, code);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Equal(expected, stdout.Trim());
        return stderr;
    }
}
