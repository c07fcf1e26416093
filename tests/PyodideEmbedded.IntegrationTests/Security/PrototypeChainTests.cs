using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 2: reach Function from proxies, pollute prototypes, and override the builtins that the
/// bootstrap and ClearScript rely on. The sandbox may break, but the host must get a result (or a lost
/// sandbox), never an exception, and a replacement must work.</summary>
public sealed class PrototypeChainTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PyProxyConstructorChain_EvalsArbitraryJs_OnlyInsideTheRealm()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            from pyodide.ffi import create_proxy, to_js
            import js
            proxy = create_proxy(lambda: 1)
            holder = to_js({'f': proxy}, dict_converter=js.Object.fromEntries)
            F = js.Reflect.getPrototypeOf(holder).constructor.constructor
            found = F('''const out = []; for (const k of Reflect.ownKeys(globalThis)) { const v = globalThis[k];
                        if (v !== null && (typeof v === 'object' || typeof v === 'function') && EngineInternal.isHostObject(v)) out.push(String(k)); }
                        return JSON.stringify({ same: this === undefined || this === globalThis, hosts: out });''')()
            proxy.destroy()
            found
            """;
        var report = await RunJsonAsync(sandbox, code);

        Assert.Equal(0, report.GetProperty("hosts").GetArrayLength());
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ObjectPrototypePollution_DoesNotCorruptLaterResults()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''Object.prototype.result = 666; Object.prototype.value = 666; Object.prototype.error = 'forged';
                       Object.prototype.toJSON = function () { return 666; }; Object.prototype.then = function (r) { r(666); };
                       Array.prototype.join = function () { return '666'; }; String.prototype.toString = function () { return '666'; };''')
            1
            """;
        await RunAttackAsync(sandbox, code);

        var after = await RunAttackAsync(sandbox, "print('ok'); 40 + 2");
        if (!sandbox.IsFaulted && after.Succeeded)
        {
            // The polluted realm may garble this sandbox's own stdout text (seen: "666"); the value must stay right.
            Assert.Equal(42, after.Value!.Value.GetInt32());
        }

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ArrayFromAndIterator_Overridden_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''Array.from = function () { throw new Error('poisoned Array.from'); };
                       Array.prototype[Symbol.iterator] = function () { throw new Error('poisoned iterator'); };''')
            1
            """;
        var result = await RunAttackAsync(sandbox, code);
        AssertNoHostData(result, code);
        if (!sandbox.IsFaulted)
        {
            AssertNoHostData(await RunAttackAsync(sandbox, "2"), code);
        }

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PromiseThen_OverriddenToNeverSettle_AsyncRunEndsWithinLimit()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { Timeout = TimeSpan.FromSeconds(3) });
        const string code = """
            import js
            js.eval('''Promise.prototype.then = function () { return this; };''')
            1
            """;
        await RunAttackAsync(sandbox, code);
        var asyncRun = await RunAttackAsync(sandbox, "import asyncio\nawait asyncio.sleep(0)\n1");
        AssertNoHostData(asyncRun, code);

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PromiseThen_ResolvingWithGarbage_HostGetsAResultNotAnException()
    {
        // The async path builds its envelope from whatever the (overridable) Promise machinery hands back.
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''const realThen = Promise.prototype.then;
                       Promise.prototype.then = function (ok, fail) { return realThen.call(this, () => ok('not json at all'), fail); };''')
            1
            """;
        await RunAttackAsync(sandbox, code);
        const string trigger = "import asyncio\nawait asyncio.sleep(0)\n1";
        var asyncRun = await RunAttackAsync(sandbox, trigger);
        AssertNoHostData(asyncRun, code);

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsonStringify_Overridden_HostGetsAResultNotAnException()
    {
        // The sync envelope is concatenated around JSON.stringify(stdout): a global the user can replace.
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval("JSON.stringify = function () { return 'garbage'; }")
            1
            """;
        var result = await RunAttackAsync(sandbox, code);
        AssertNoHostData(result, code);

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task MathMax_ForgedPollResult_HostGetsAResultNotAnException()
    {
        // poll() returns Math.max(...) while an awaiting run is pending; a string there is taken as the envelope.
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval("Math.max = function () { return 'not an envelope'; }")
            import asyncio
            await asyncio.sleep(0.05)
            1
            """;
        var result = await RunAttackAsync(sandbox, code);
        AssertNoHostData(result, code);

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsonStringify_ForgedHugeStdout_StaysWithinMaxOutputBytes()
    {
        // The output cap is enforced only inside the realm; a forged envelope can carry any size to the host.
        await using var sandbox = await PythonSandbox.CreateAsync(Interop with { MaxOutputBytes = 4096 });
        const string code = """
            import js
            js.eval("JSON.stringify = function () { return '\"' + 'A'.repeat(5000000) + '\"'; }")
            1
            """;
        var result = await RunAttackAsync(sandbox, code);

        Assert.True(result.Stdout.Length <= 4096 && result.Stderr.Length <= 4096,
            $"OUTPUT LIMIT BYPASSED: stdout {result.Stdout.Length} chars, stderr {result.Stderr.Length} chars with MaxOutputBytes = 4096.\nPayload:\n{code}");
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FunctionPrototypeCallApply_Poisoned_HostSurvivesAndReplacementAnswers()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''Function.prototype.call = function () { throw 1; }; Function.prototype.apply = function () { throw 1; };
                       Reflect.apply = function () { throw 1; };''')
            1
            """;
        var result = await RunAttackAsync(sandbox, code);
        AssertNoHostData(result, code);
        if (!sandbox.IsFaulted)
        {
            AssertNoHostData(await RunAttackAsync(sandbox, "2"), code);
        }

        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ErrorPrepareStackTrace_Hooked_EngineFailureLeaksNothing()
    {
        // V8 calls Error.prepareStackTrace while ClearScript turns a JS exception into a host exception.
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        const string code = """
            import js
            js.eval('''Error.prepareStackTrace = function (e, frames) {
                         globalThis.seen = frames.map(f => String(f.getFileName()) + ' ' + String(f.getThis && f.getThis())).join('|');
                         return { toString() { throw new Error('hostile toString'); } };
                       };
                       Error.stackTraceLimit = Infinity;
                       JSON.stringify = function () { throw new TypeError('boom'); };''')
            1
            """;
        var result = await RunAttackAsync(sandbox, code);
        AssertNoHostData(result, code);

        await AssertStillAnswersAsync(sandbox);
    }
}
