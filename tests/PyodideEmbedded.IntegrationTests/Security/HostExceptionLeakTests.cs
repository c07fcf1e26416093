using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 10: errors seen by Python or by the host's caller carry no host paths, .NET type names,
/// .NET stack traces or ClearScript internals.</summary>
public sealed class HostExceptionLeakTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EntropyBridge_GivenAWrongArgument_ErrorHidesHostTypeNames()
    {
        // crypto.getRandomValues allocates with the global ArrayBuffer, then hands it to the host bridge.
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''(() => {
              const Real = ArrayBuffer;
              globalThis.ArrayBuffer = function () { return { size: 'x' }; };
              try { crypto.getRandomValues(new Uint8Array(4)); return 'no error'; }
              catch (e) { return String(e) + '\\n' + String(e.stack); }
              finally { globalThis.ArrayBuffer = Real; }
            })()''')
            """;
        var value = await RunValueAsync(sandbox, code);

        AssertNoHostData(value.GetString()!, code);
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EntropyBridge_ErrorReachingPython_HidesHostTypeNames()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval("globalThis.ArrayBuffer = function () { return 42; }")
            js.crypto.getRandomValues(js.Uint8Array.new(4))
            """;
        var result = await RunAttackAsync(sandbox, code);

        // The bootstrap keeps the original ArrayBuffer, so this either works or fails in plain words.
        AssertNoHostData(result, code);
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EngineFailure_ReportedToTheHostCaller_CarriesNoHostDetails()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = "import js\njs.eval(\"Array.prototype[Symbol.iterator] = function () { throw new Error('boom'); }\")\n1";
        var result = await RunAttackAsync(sandbox, code);
        var next = sandbox.IsFaulted ? result : await RunAttackAsync(sandbox, "2");

        AssertNoHostData(result, code);
        AssertNoHostData(next, code);
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PythonTracebacks_FromStdlibAndPyodide_ShowOnlyVirtualPaths()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        string[] attacks =
        [
            "import json\njson.loads('{bad')",
            "def f(n): return f(n + 1)\nf(0)",
            "import pyodide.code\npyodide.code.run_js('x')",
            "import zipfile\nzipfile.ZipFile('/lib/python314.zip').open('nope')",
            "import ctypes\nctypes.CDLL('/usr/lib/libc.so.6')",
            "import importlib\nimportlib.import_module('clr')",
            "__import__('os').execv('/bin/sh', ['sh'])",
            "import subprocess\nsubprocess.run(['id'])",
            "compile('x' * 10 + '(', '<evil>', 'exec')",
        ];
        foreach (var code in attacks)
        {
            var result = await RunAttackAsync(sandbox, code);
            AssertRefused(result, code);
        }

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsErrorsFromTheLockedLoader_ShowNoHostDetails()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            await js.eval('''Promise.allSettled(['/etc/passwd', 'file:///work/main/x.mjs', '/pyodide/nope.mjs', '/pyodide/pyodide.asm.wasm']
                .map(s => import(s))).then(rs => rs.map(r => String(r.reason) + ' ' + String(r.reason && r.reason.stack)).join('\\n'))''')
            """;
        var value = await RunValueAsync(sandbox, code);

        AssertNoHostData(value.GetString()!, code);
        await AssertStillAnswersAsync(sandbox);
    }
}
