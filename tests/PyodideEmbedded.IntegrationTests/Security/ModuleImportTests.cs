using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 4: with the default options (AllowJsInterop = false) the JS bridge modules must be out of reach,
/// by any import route; and package loading must fetch nothing.</summary>
[Collection(SecurityDefaultSandboxDefinition.Name)]
public sealed class ModuleImportTests(SharedSandbox fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    private async Task AssertNoRealmAccessAsync(string code)
    {
        var result = await RunAttackAsync(_sandbox, code);
        AssertNoHostData(result, code);
        Assert.False(result.Succeeded && result.Value?.GetRawText() is { } v && v.Contains("REALM", StringComparison.Ordinal),
            $"INTEROP GUARD BYPASSED: default-option code reached the JS realm.\nValue: {result.Value?.GetRawText()}\nPayload:\n{code}");
        AssertRefused(result, code);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ImportJs_ByDefault_IsRefused()
    {
        const string code = "import js\n'REALM ' + str(js.eval('typeof EngineInternal'))";
        var result = await RunAttackAsync(_sandbox, code);
        AssertRefused(result, code);
        Assert.Equal("ImportError", result.Error!.TypeName);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ImportPyodideJs_ByDefault_IsRefused()
    {
        const string code = "import pyodide_js\n'REALM ' + pyodide_js.version";
        var result = await RunAttackAsync(_sandbox, code);
        AssertRefused(result, code);
        Assert.Equal("ImportError", result.Error!.TypeName);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task DunderImport_WithForeignGlobals_IsRefused() =>
        await AssertNoRealmAccessAsync("m = __import__('pyodide_js', {})\n'REALM ' + m.version");

    // With AllowJsInterop off, the import guard is defence in depth and these routes are known to get
    // past it (SECURITY.md says so). What they reach must still be only the bare realm.
    private const string BareRealmProbe =
        "[str(realm.eval('typeof ' + n)) for n in ('process', 'require', 'Deno', 'fetch', 'XMLHttpRequest', 'WebSocket', 'readbuffer', 'read', 'load', 'Performance')]";

    private async Task AssertOnlyBareRealmAsync(string reachRealm)
    {
        var code = reachRealm + "\n" + BareRealmProbe;
        var value = await RunValueAsync(_sandbox, code);
        Assert.All(value.EnumerateArray(), kind => Assert.Equal("undefined", kind.GetString()));
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ImportlibImportModule_PyodideJsByDefault_ReachesOnlyTheBareRealm() =>
        await AssertOnlyBareRealmAsync("import importlib\nrealm = importlib.import_module('pyodide_js').constructor.constructor('return globalThis')()");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ExecWithForeignFilename_ImportPyodideJs_ReachesOnlyTheBareRealm() =>
        await AssertOnlyBareRealmAsync("ns = {}\nexec(compile('import pyodide_js as m', 'not-exec', 'exec'), ns)\nrealm = ns['m'].constructor.constructor('return globalThis')()");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SysModulesLookup_PyodideJsByDefault_ReachesOnlyTheBareRealm() =>
        await AssertOnlyBareRealmAsync($"realm = {RealmWithoutImport}");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PyodideInternals_CoreModuleByDefault_ReachOnlyTheBareRealm() =>
        await AssertOnlyBareRealmAsync("import sys\nrealm = sys.modules['pyodide_js']._api.constructor.constructor('return globalThis')()");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunJs_ByDefault_ReachesNothing()
    {
        const string code = "import pyodide.code\n'REALM ' + str(pyodide.code.run_js('typeof EngineInternal'))";
        var result = await RunAttackAsync(_sandbox, code);
        AssertRefused(result, code);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Micropip_AndLoadPackage_FetchNothing()
    {
        const string importMicropip = "import micropip";
        var micropip = await RunAttackAsync(_sandbox, importMicropip);
        AssertRefused(micropip, importMicropip);

        // With interop on, ask Pyodide itself to fetch a package: there is no network and no package base URL.
        await using var interop = await CreateAsync(allowJsInterop: true);
        const string loadPackage = """
            import pyodide_js, sys
            await pyodide_js.loadPackage(['micropip', 'numpy'])
            sorted(m for m in ('micropip', 'numpy') if m in sys.modules or __import__('importlib.util').util.find_spec(m))
            """;
        var loaded = await RunAttackAsync(interop, loadPackage);
        AssertNoHostData(loaded, loadPackage);
        if (loaded.Succeeded)
        {
            Assert.Equal("[]", loaded.Value?.GetRawText() ?? "[]");
        }

        await AssertStillAnswersAsync(interop);
        await AssertStillAnswersAsync(_sandbox);
    }
}
