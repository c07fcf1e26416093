namespace PyodideEmbedded.IntegrationTests;

/// <summary>Sandboxes start from one shared memory image: what must still differ between them, and what must not leak.</summary>
public sealed class SnapshotTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RestoredSandboxes_DoNotShareRandomness()
    {
        const string Draw = "import random, os, secrets\n[random.random(), random.getrandbits(64), os.urandom(16).hex(), secrets.token_hex(16)]";
        await using var first = await PythonSandbox.CreateAsync(TestOptions.Default);
        await using var second = await PythonSandbox.CreateAsync(TestOptions.Default);

        var a = (await first.RunAsync(Draw)).Value!.Value.EnumerateArray().Select(v => v.ToString()).ToArray();
        var b = (await second.RunAsync(Draw)).Value!.Value.EnumerateArray().Select(v => v.ToString()).ToArray();

        Assert.Equal(4, a.Length);
        for (var i = 0; i < a.Length; i++)
        {
            Assert.NotEqual(a[i], b[i]);
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RestoredSandboxes_EachKeepTheirOwnMemoryLimit()
    {
        await using var small = await PythonSandbox.CreateAsync(TestOptions.Default with { MemoryLimitBytes = 64L << 20 });
        await using var large = await PythonSandbox.CreateAsync(TestOptions.Default with { MemoryLimitBytes = 512L << 20 });
        const string Allocate = "len(bytearray(160 * 2**20))";

        var refused = await small.RunAsync(Allocate);
        var allowed = await large.RunAsync(Allocate);

        Assert.Equal("MemoryError", refused.Error?.TypeName);
        Assert.False(refused.SandboxLost);
        Assert.Equal(160 << 20, allowed.Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RestoredSandbox_DoesNotSeeAnotherSandboxesChanges()
    {
        // On Linux the image's pages are shared copy-on-write by every live sandbox: a change made by
        // one must reach neither a sandbox already running nor one started after it.
        const string Check = "import json, builtins\n[hasattr(json, 'poisoned'), hasattr(builtins, 'leaked')]";
        await using var before = await PythonSandbox.CreateAsync(TestOptions.Default);
        await using var first = await PythonSandbox.CreateAsync(TestOptions.Default);
        (await first.RunAsync("import json, builtins\njson.poisoned = True\nbuiltins.leaked = 1")).ThrowIfError();

        await using var after = await PythonSandbox.CreateAsync(TestOptions.Default);

        Assert.Equal([true, true], (await first.RunAsync(Check)).Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Equal([false, false], (await before.RunAsync(Check)).Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Equal([false, false], (await after.RunAsync(Check)).Value!.Value.EnumerateArray().Select(v => v.GetBoolean()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunnerLoadedByTheTemplate_IsNotImportableByUserCode()
    {
        // The image carries the runner as a module; each sandbox takes it out of sys.modules at start.
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        var result = await sandbox.RunAsync("import sys\nprint('_pyodide_embedded_runner' in sys.modules)\nimport _pyodide_embedded_runner");

        Assert.Equal("ModuleNotFoundError", result.Error?.TypeName);
        Assert.Equal("False\n", result.Stdout);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SameCodeRunTwice_RunsTwice()
    {
        // Compiled code is cached per source text; running it again must still execute it.
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        (await sandbox.RunAsync("counter = 0")).ThrowIfError();

        for (var i = 0; i < 3; i++)
        {
            (await sandbox.RunAsync("counter += 1\nprint(counter)")).ThrowIfError();
        }

        var last = await sandbox.RunAsync("counter += 1\nprint(counter)");
        Assert.Equal("4\n", last.Stdout);
    }
}
