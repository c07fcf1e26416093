using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 9: poison one sandbox; other sandboxes (older and newer) see nothing, and result reporting in
/// the poisoned sandbox itself stays right.</summary>
public sealed class CrossSandboxPoisoningTests
{
    private const string Poison = """
        import json, builtins, sys, os, js
        json.dumps = lambda *a, **k: '"EVIL"'
        json.loads = lambda *a, **k: 'EVIL'
        builtins.print = lambda *a, **k: None
        builtins.repr = lambda *a: 'EVIL'
        builtins.EVIL_MARK = 1
        sys.modules['os'] = type(sys)('os')
        with open('/tmp/evil-mark', 'w') as f:
            f.write('evil')
        evil_global = 1
        js.eval("globalThis.evilMark = 1; Object.prototype.evilProto = 1; Array.prototype.evilArr = 1")
        """;

    private const string Probe = """
        import json, sys, builtins
        import os as os2
        [json.dumps([1]), hasattr(builtins, 'EVIL_MARK'), 'evil_global' in globals(), os2.path.exists('/tmp/evil-mark'),
         hasattr(os2, 'getcwd'), str(__import__('js').eval("typeof evilMark + ({}).evilProto + [].evilArr"))]
        """;

    private const string Clean = """["[1]",false,false,false,true,"undefinedundefinedundefined"]""";

    private static void AssertJsonEqual(string expected, System.Text.Json.JsonElement actual)
    {
        using var document = System.Text.Json.JsonDocument.Parse(expected);
        Assert.True(System.Text.Json.JsonElement.DeepEquals(document.RootElement, actual), $"Expected {expected}, got {actual.GetRawText()}");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PoisonInSandboxA_IsInvisibleToSandboxesCreatedBeforeAndAfter()
    {
        await using var before = await CreateAsync(allowJsInterop: true);
        await using var poisoned = await CreateAsync(allowJsInterop: true);
        var attack = await RunAttackAsync(poisoned, Poison);
        Assert.True(attack.Succeeded, attack.Error?.Traceback);
        await using var after = await CreateAsync(allowJsInterop: true);

        AssertJsonEqual(Clean, await RunValueAsync(before, Probe));
        AssertJsonEqual(Clean, await RunValueAsync(after, Probe));
        await AssertStillAnswersAsync(poisoned);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task MonkeyPatchedJsonPrintAndRepr_DoNotCorruptReportingInTheSameSandbox()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        await RunAttackAsync(sandbox, Poison);

        var value = await RunAttackAsync(sandbox, "import sys\nsys.stdout.write('out\\n')\n{'a': [1, 2.5, 'x', None, True]}");
        Assert.True(value.Succeeded, value.Error?.Traceback);
        AssertJsonEqual("""{"a":[1,2.5,"x",null,true]}""", value.Value!.Value);
        Assert.Equal("out\n", value.Stdout);

        var set = await RunAttackAsync(sandbox, "{3}");
        Assert.True(set.ValueIsRepr);
        var error = await RunAttackAsync(sandbox, "1 / 0");
        Assert.Equal("ZeroDivisionError", error.Error!.TypeName);
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunnerFrameGlobals_ReachedViaGetframe_CannotCorruptReporting()
    {
        // The runner's namespace is "private", but the user's code runs one frame below it: no JS needed, default options.
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        const string payload = "import sys\nsys._getframe(1).f_globals['_dumps'] = lambda *a, **k: 'garbage'\n1";

        var result = await RunAttackAsync(sandbox, payload);
        AssertNoHostData(result, payload);
        // Either reporting still works, or the host noticed the corrupt result and discarded the sandbox.
        if (!sandbox.IsFaulted)
        {
            var next = await RunAttackAsync(sandbox, "2 + 3");
            Assert.True(next.Succeeded && next.Value!.Value.GetInt32() == 5, $"Reporting corrupted: {next.Error?.Summary} {next.Value?.GetRawText()}");
        }
        else
        {
            Assert.True(result.SandboxLost);
        }

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunnerValueLimit_RaisedViaGetframe_StillCapsTheValue()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { MaxOutputBytes = 4096 });
        const string payload = "import sys\nsys._getframe(1).f_globals['_max_value_bytes'] = 1 << 30\n'x' * 100000";

        var result = await RunAttackAsync(sandbox, payload);

        var length = result.Value?.GetRawText().Length ?? 0;
        Assert.True(length <= 4096 + 2, $"VALUE LIMIT BYPASSED: a {length}-char value came back with MaxOutputBytes = 4096.\nPayload:\n{payload}");
        await AssertStillAnswersAsync(sandbox);
    }
}
