namespace PyodideEmbedded.IntegrationTests;

/// <summary>What the file caps do, on a sandbox with small limits of its own (these tests fill it up).</summary>
public sealed class FileLimitTests
{
    private static readonly SandboxOptions Small = TestOptions.Default with
    {
        MaxFileBytes = 1024 * 1024,
        JsHeapLimitBytes = 64L * 1024 * 1024,
        MemoryLimitBytes = 128L * 1024 * 1024,
    };

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReadBack_PastMaxFileBytes_IsAFileErrorAndTheRestIsRead()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Small);

        var result = await sandbox.RunAsync("""
            open('/out/a.bin', 'wb').write(b'a' * 700_000)
            open('/out/b.bin', 'wb').write(b'b' * 700_000)
            open('/out/c.bin', 'wb').write(b'c' * 100_000)
            'done'
            """, new RunInputs { ReadFiles = ["/out/a.bin", "/out/b.bin", "/out/c.bin"] });

        Assert.Equal("done", result.Value!.Value.GetString());
        Assert.Equal(700_000, result.Files["/out/a.bin"].Length);
        Assert.Equal(100_000, result.Files["/out/c.bin"].Length);
        Assert.Equal("the file is 700000 bytes, more than the 348576 bytes left of the limit of 1048576 bytes", result.FileErrors["/out/b.bin"]);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PythonFillingTheFileSystem_GetsOSErrorAndTheSandboxKeepsWorking()
    {
        // File data are ArrayBuffers, capped per isolate at the JS heap limit (64 MiB here): a write past it used to
        // throw a RangeError through Python and lose the interpreter; now it is a full disk.
        await using var sandbox = await PythonSandbox.CreateAsync(Small);

        var full = await sandbox.RunAsync("""
            import errno, os
            os.makedirs('/tmp/fill')
            try:
                for i in range(200):
                    with open(f'/tmp/fill/{i}', 'wb') as f:
                        f.write(b'x' * (1 << 20))
                outcome = 'no error'
            except OSError as e:
                outcome = errno.errorcode[e.errno]
            outcome
            """);
        var hostWrite = await sandbox.RunAsync("None", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/more.bin"] = new byte[1024 * 1024] },
        });
        var freed = await sandbox.RunAsync("import shutil\nshutil.rmtree('/tmp/fill')\nopen('/tmp/after.txt', 'w').write('ok')");

        Assert.Equal("ENOSPC", full.Value!.Value.GetString());
        Assert.False(full.SandboxLost);
        Assert.Contains("no space left", hostWrite.Error?.Message ?? "", StringComparison.Ordinal);
        Assert.True(freed.Succeeded, freed.Error?.Traceback);
        Assert.False(sandbox.IsFaulted);
    }

    [Fact]
    public async Task CreateAsync_MaxFileBytesAboveTheMemoryLimits_IsRefused()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => PythonSandbox.CreateAsync(Small with { MaxFileBytes = 65L * 1024 * 1024 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => PythonSandbox.CreateAsync(Small with { MaxFileBytes = -1 }));
    }
}
