using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>A realm that lies about files (code that reached the JS realm and rewrote what reads them): the host
/// caps and checks what comes back, and a read that hangs is stopped. Each test breaks its own sandbox.</summary>
public sealed class HostileReadBackTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReadBack_RealmReturnsAHugeView_IsCappedNotCopied()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { MaxFileBytes = 1024 * 1024 });
        var code = """
            import js, pyodide_js
            open('/out/small.txt', 'w').write('x')
            js.eval('''(FS) => {
              const lookup = FS.lookupNode;
              const huge = new Uint8Array(64 * 1024 * 1024);
              huge.subarray = () => huge;
              const liar = { mode: 0o100644, usedBytes: 1, contents: huge };
              FS.lookupNode = (parent, name) => name === 'small.txt' ? liar : lookup(parent, name);
            }''')(pyodide_js.FS)
            'value kept'
            """;

        var result = await sandbox.RunAsync(code, new RunInputs { ReadFiles = ["/out/small.txt"] });

        Assert.Equal("value kept", result.Value!.Value.GetString());
        Assert.Empty(result.Files);
        Assert.Contains("more than the", result.FileErrors["/out/small.txt"], StringComparison.Ordinal);
        Assert.False(result.SandboxLost);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReadBack_RealmThrowsOrAnswersNonsense_IsAFileError()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Interop);
        var code = """
            import js, pyodide_js
            open('/out/a.txt', 'w').write('a')
            pyodide_js.FS.lookupNode = js.eval('() => { throw { errno: "not a number", toString() { return "System.IO.IOException at /work/main" } }; }')
            'ok'
            """;

        var result = await sandbox.RunAsync(code, new RunInputs { ReadFiles = ["/out/a.txt"] });

        Assert.Equal("ok", result.Value!.Value.GetString());
        Assert.Equal("the file could not be accessed", result.FileErrors["/out/a.txt"]);
        AssertNoHostData(result, code);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReadBack_RealmHangs_IsStoppedAndTheSandboxReported()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { Timeout = TimeSpan.FromSeconds(2) });
        var code = """
            import pyodide_js, js
            pyodide_js.FS.lookupNode = js.eval('() => { for (;;) {} }')
            'ok'
            """;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await sandbox.RunAsync(code, new RunInputs { ReadFiles = ["/out/never.txt"] });

        Assert.Equal("ok", result.Value!.Value.GetString());
        Assert.True(result.SandboxLost);
        Assert.True(sandbox.IsFaulted);
        Assert.Contains("too long", result.FileErrors["/out/never.txt"], StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task WriteIn_RealmHangs_IsTheTimeLimit()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { Timeout = TimeSpan.FromSeconds(1) });
        await sandbox.RunAsync("import pyodide_js, js\npyodide_js.FS.writeFile = js.eval('() => { for (;;) {} }')");

        var result = await sandbox.RunAsync("'never'", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/in.txt"] = "x"u8.ToArray() },
        });

        Assert.Equal("TimeoutError", result.Error!.TypeName);
        Assert.True(result.SandboxLost);
    }
}
