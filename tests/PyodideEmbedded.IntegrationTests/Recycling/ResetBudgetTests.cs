namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Ordinary runs stay within the runner's measured budget of crossings into JavaScript and touch nothing a reset
/// cannot put back, so each is followed by a reset in place. If Pyodide changes how the runner crosses, these fail
/// (the resets would all fall back to new isolates: safe, but ~200x slower).
/// </summary>
public sealed class ResetBudgetTests(SharedSandbox shared) : IClassFixture<SharedSandbox>
{
    public static TheoryData<string, string> OrdinaryRuns => new()
    {
        { "an expression", "4 + 5" },
        { "output and an error", "print('hello')\nraise ValueError('x')" },
        { "non-ASCII output and value", "print('é ü 漢字 😀')\n'é ü 漢字 😀'" },
        { "imports of the standard library", "import json, re, decimal, statistics, datetime, hashlib, zlib, sqlite3\njson.dumps([1])" },
        { "files written, read, listed, removed", "import os, tempfile\nos.makedirs('/tmp/a/b', exist_ok=True)\nopen('/tmp/a/b/c', 'w').write('x')\nos.listdir('/tmp/a/b'), tempfile.mkstemp()" },
        { "time and randomness", "import time, random, os, uuid\ntime.sleep(0.01)\ntime.localtime(), random.random(), os.urandom(4), uuid.uuid4()" },
        { "the stateless devices", "open('/dev/null', 'w').write('x')\nopen('/dev/urandom', 'rb').read(4)" },
        { "a deep recursion error", "def f(n): return f(n + 1)\nf(0)" },
    };

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [MemberData(nameof(OrdinaryRuns))]
    public async Task OrdinaryRun_IsResetInPlace(string what, string code)
    {
        var before = shared.Sandbox.Resets;

        await shared.Sandbox.RunAsync(code);
        await shared.Sandbox.ResetAsync();

        Assert.True(shared.Sandbox.Resets.InPlace == before.InPlace + 1, $"{what}: the reset used a new isolate");
        Assert.Equal(9, (await shared.Sandbox.RunAsync("4 + 5")).Value?.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunWithGlobalsAndFiles_IsResetInPlace_AndItsFilesAreGone()
    {
        var before = shared.Sandbox.Resets;
        var inputs = new RunInputs
        {
            Globals = new Dictionary<string, object?> { ["name"] = "é", ["n"] = 3 },
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/in/x.txt"] = "hi"u8.ToArray() },
            ReadFiles = ["/out/y.txt"],
        };

        var result = await shared.Sandbox.RunAsync("open('/out/y.txt', 'w').write(name * n + open('/data/in/x.txt').read())", inputs);
        await shared.Sandbox.ResetAsync();

        Assert.Equal("éééhi", System.Text.Encoding.UTF8.GetString(result.Files!["/out/y.txt"].Span));
        Assert.Equal(before.InPlace + 1, shared.Sandbox.Resets.InPlace);
        var after = await shared.Sandbox.RunAsync("import os\n[os.listdir('/data'), os.listdir('/out'), 'name' in globals()]");
        Assert.Equal("""[[], [], false]""", after.Value?.GetRawText());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunStoppedAtItsTimeLimit_IsResetInPlace()
    {
        var before = shared.Sandbox.Resets;

        var result = await shared.Sandbox.RunAsync("x = 1\nwhile True:\n    x += 1", new RunInputs { Timeout = TimeSpan.FromMilliseconds(200) });
        await shared.Sandbox.ResetAsync();

        Assert.Equal(SandboxLimit.Time, result.Limit);
        Assert.False(result.SandboxLost);
        Assert.Equal(before.InPlace + 1, shared.Sandbox.Resets.InPlace);
        Assert.False((await shared.Sandbox.RunAsync("'x' in globals()")).Value?.GetBoolean());
    }
}
