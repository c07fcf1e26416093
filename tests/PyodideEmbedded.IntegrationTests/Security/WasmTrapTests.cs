namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>
/// Issue 13, class 3: a trap in WebAssembly (or a JavaScript error inside Pyodide's own machinery) leaves
/// the interpreter inconsistent. The run that met it ends with the error and a lost sandbox, so the next
/// request is answered by a fresh one, never by the poisoned interpreter; and the crash report shows no
/// frame of the runner's own.
/// </summary>
public sealed class WasmTrapTests
{
    public static TheoryData<string, string> Traps => new()
    {
        { "null function pointer", "import ctypes\nctypes.CFUNCTYPE(None)(0)()" },
        { "out-of-bounds read", "import ctypes\nctypes.string_at(0xFFFFFFF0, 100)" },
        { "out-of-bounds write", "import ctypes\nctypes.memset(0xFFFFFF00, 0, 1000)" },
        { "unreachable (abort)", "import ctypes\nctypes.CDLL(None).abort()" },
        { "wasm stack exhausted", "import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)" },
        { "trap the code catches", "import ctypes\ntry:\n    ctypes.memset(0xFFFFFF00, 0, 1000)\nexcept BaseException:\n    pass\n7" },
        { "trap after an await", "import asyncio\nawait asyncio.sleep(0.01)\nimport ctypes\nctypes.CFUNCTYPE(None)(0)()" },
        { "Pyodide's fatal error, caught", "import pyodide_js\ntry:\n    pyodide_js._api.fatal_error(Exception('x'))\nexcept BaseException:\n    pass\n7" },
    };

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [MemberData(nameof(Traps))]
    public async Task RunAsync_Trap_EndsTheRunWithALostSandbox(string kind, string code)
    {
        await using var sandbox = await PythonSandbox.CreateAsync(EscapeAssert.Interop);
        await sandbox.RunAsync("kept = 1");

        var result = await sandbox.RunAsync(code);

        Assert.False(result.Succeeded, $"{kind}: the run succeeded with {result.Value?.GetRawText()}");
        Assert.True(result.SandboxLost, $"{kind}: the sandbox was kept after {result.Error?.Summary}");
        Assert.True(sandbox.IsFaulted);
        Assert.Equal(SandboxLimit.EngineFailure, result.Limit);
        Assert.Equal("SystemError", result.Error!.TypeName);
        Assert.Contains("crashed", result.Error.Message, StringComparison.Ordinal);
        foreach (var text in new[] { result.Stdout, result.Stderr, result.Error.Traceback })
        {
            Assert.DoesNotContain("<pyodide-embedded>", text, StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<SandboxFaultedException>(() => sandbox.RunAsync("1 + 1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_AfterATrap_TheNextRequestIsAnsweredNormally()
    {
        await using var cli = CliProcess.Start("serve");
        await cli.RunCodeAsync("kept = 1");

        var trapped = await cli.RunCodeAsync("import ctypes\nctypes.CFUNCTYPE(None)(0)()");
        var next = await cli.RunCodeAsync("1 + 1");

        Assert.True(trapped.GetProperty("state_lost").GetBoolean());
        Assert.Equal("SystemError", trapped.GetProperty("error_type").GetString());
        Assert.Equal("engine_failure", trapped.GetProperty("limit").GetString());
        Assert.Equal(2, next.GetProperty("output").GetInt32());
        Assert.False(next.TryGetProperty("state_lost", out _), "the loss was already reported with the trap");
        Assert.False((await cli.RunCodeAsync("'kept' in globals()")).GetProperty("output").GetBoolean());
    }
}
