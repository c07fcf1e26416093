using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 3: the asset loader after boot, dynamic import() of host paths and URLs, and the virtual file system.</summary>
[Collection(SecurityInteropSandboxDefinition.Name)]
public sealed class LoaderAndFileAccessTests(InteropSandboxFixture fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    private async Task AssertImportRefusedAsync(string specifier, string? attributes = null)
    {
        var call = attributes is null ? $"import({Js(specifier)})" : $"import({Js(specifier)}, {attributes})";
        var code = $$"""
            import js
            await js.eval({{Py("(async () => { try { const m = await " + call + "; return 'LOADED ' + Object.keys(m).join(','); } catch (e) { return 'REFUSED ' + String(e); } })()")}})
            """;
        var outcome = (await RunValueAsync(_sandbox, code)).GetString()!;

        Assert.True(outcome.StartsWith("REFUSED", StringComparison.Ordinal), $"import() was NOT refused: {outcome}\nPayload:\n{code}");
        AssertNoHostData(outcome, code);
    }

    private static string Js(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    private static string Py(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task LoaderGlobals_ReadReadbufferLoad_AreGoneAfterBoot()
    {
        const string code = """
            import js
            js.eval('''JSON.stringify([typeof read, typeof readbuffer, typeof load, 'read' in globalThis, 'readbuffer' in globalThis])''')
            """;
        var value = await RunValueAsync(_sandbox, code);

        Assert.Equal("""["undefined","undefined","undefined",false,false]""", value.GetString());
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_ParentTraversalSpecifier_IsRefused() => await AssertImportRefusedAsync("/pyodide/../../etc/passwd");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_FileUrl_IsRefused() => await AssertImportRefusedAsync("file:///etc/passwd");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_AbsoluteHostPath_IsRefused() => await AssertImportRefusedAsync("/etc/passwd");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_HttpsUrl_IsRefused() => await AssertImportRefusedAsync("https://example.com/x.mjs");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_WasmAsset_IsRefused() => await AssertImportRefusedAsync("/pyodide/pyodide.asm.wasm");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_StdlibZipAsset_IsRefused() => await AssertImportRefusedAsync("/pyodide/python_stdlib.zip");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Import_OddSpecifiers_AreAllRefused()
    {
        string[] specifiers =
        [
            "data:text/javascript,export default 1", "/pyodide/%2e%2e/%2e%2e/etc/passwd.mjs", "/pyodide/..%2f..%2fetc%2fpasswd.mjs",
            "./pyodide.mjs", "../etc/passwd", "pyodide.mjs", "/pyodide//etc/passwd.mjs", "/pyodide/\\..\\x.mjs",
            "file://localhost/etc/passwd", "FILE:///etc/passwd", "/pyodide/pyodide-lock.json", "/pyodide/manifest.sha256",
            "http://127.0.0.1/x.mjs", "node:fs", "/proc/self/environ", AppContext.BaseDirectory + "pyodide-dist/pyodide.mjs",
        ];
        foreach (var specifier in specifiers)
        {
            await AssertImportRefusedAsync(specifier);
        }

        await AssertImportRefusedAsync("/pyodide/pyodide-lock.json", "{ with: { type: 'json' } }");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PythonOpen_HostEtcPasswd_IsNotFound()
    {
        const string code = "open('/etc/passwd').read()";
        var result = await RunAttackAsync(_sandbox, code);

        AssertRefused(result, code);
        Assert.Equal("FileNotFoundError", result.Error!.TypeName);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ListRoot_AndHostPaths_ShowOnlyTheInMemoryFileSystem()
    {
        var hostPaths = new[] { "/etc/hostname", "/etc/passwd", "/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/work", "/root", "/sys", "/usr/bin", AppContext.BaseDirectory };
        var code = $$"""
            import os
            {'root': sorted(os.listdir('/')), 'exists': [p for p in {{System.Text.Json.JsonSerializer.Serialize(hostPaths)}} if os.path.exists(p)],
             'proc_self': sorted(os.listdir('/proc/self')) if os.path.isdir('/proc/self') else []}
            """;
        var value = await RunValueAsync(_sandbox, code);

        var root = value.GetProperty("root").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.True(root.All(new HashSet<string> { "dev", "home", "lib", "proc", "tmp", "mnt", "mnt2", "data", "out" }.Contains), $"Unexpected root entries: {string.Join(",", root)}");
        Assert.True(value.GetProperty("exists").GetArrayLength() == 0, $"Host paths visible: {value.GetProperty("exists").GetRawText()}");
        Assert.DoesNotContain("environ", value.GetProperty("proc_self").GetRawText(), StringComparison.Ordinal);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SymlinksToHostPaths_ResolveInsideTheVirtualFileSystem()
    {
        const string code = """
            import os, uuid
            d = '/tmp/symlinks-' + uuid.uuid4().hex
            os.mkdir(d)
            targets = ['/etc/passwd', '../../../../../../work/main', '/proc/1/environ', '/root/.bashrc', '//etc/hostname', '/dev/../etc/shadow']
            leaked = []
            for i, t in enumerate(targets):
                link = f'{d}/l{i}'
                os.symlink(t, link)
                try:
                    with open(link, 'rb') as f:
                        leaked.append((t, f.read(64).decode('latin1')))
                except OSError:
                    pass
                try:
                    leaked.append((t, os.listdir(link)))
                except OSError:
                    pass
            leaked
            """;
        var value = await RunValueAsync(_sandbox, code);

        Assert.True(value.GetArrayLength() == 0, $"Symlinks reached something: {value.GetRawText()}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EmscriptenHostFileSystems_NodefsAndFriends_CannotMountTheHost()
    {
        const string code = """
            import os, js, pyodide_js, uuid
            FS = pyodide_js.FS
            mounted = []
            for name in ['NODEFS', 'PROXYFS', 'NATIVEFS_ASYNC', 'WORKERFS']:
                point = '/tmp/mnt-' + uuid.uuid4().hex
                os.mkdir(point)
                fs = getattr(FS.filesystems, name, None)
                if fs is None:
                    continue
                try:
                    FS.mount(fs, js.JSON.parse('{"root": "/"}'), point)
                    entries = os.listdir(point)
                    if entries:
                        mounted.append((name, entries[:10]))
                except BaseException:
                    pass
            mounted
            """;
        var value = await RunValueAsync(_sandbox, code);

        Assert.True(value.GetArrayLength() == 0, $"A host file system was mounted: {value.GetRawText()}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ReimportedPyodideModule_CannotBootASecondInterpreterFromHostFiles()
    {
        const string code = """
            import js
            await js.eval('''import('/pyodide/pyodide.mjs').then(m => m.loadPyodide({ indexURL: 'file:///etc/' }))
                              .then(() => 'BOOTED', e => 'FAILED ' + String(e))''')
            """;
        var outcome = (await RunValueAsync(_sandbox, code)).GetString()!;

        Assert.StartsWith("FAILED", outcome, StringComparison.Ordinal);
        AssertNoHostData(outcome, code);
        await AssertStillAnswersAsync(_sandbox);
    }
}
