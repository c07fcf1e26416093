using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 1: from the JS realm, look for anything of the host (ClearScript host objects, bridges, host functions).</summary>
[Collection(SecurityInteropSandboxDefinition.Name)]
public sealed class JsBridgeEscapeTests(InteropSandboxFixture fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    // Standard ECMAScript globals plus what Bootstrap.js defines on purpose, and ClearScript's frozen EngineInternal.
    private static readonly HashSet<string> KnownGlobals =
    [
        "AggregateError", "Array", "ArrayBuffer", "AsyncDisposableStack", "Atomics", "BigInt", "BigInt64Array", "BigUint64Array",
        "Boolean", "DataView", "Date", "DisposableStack", "Error", "EvalError", "FinalizationRegistry", "Float16Array",
        "Float32Array", "Float64Array", "Function", "Infinity", "Int16Array", "Int32Array", "Int8Array", "Intl", "Iterator",
        "JSON", "Map", "Math", "NaN", "Number", "Object", "Promise", "Proxy", "RangeError", "ReferenceError", "Reflect",
        "RegExp", "Set", "SharedArrayBuffer", "String", "SuppressedError", "Symbol", "SyntaxError", "TypeError", "URIError",
        "Uint16Array", "Uint32Array", "Uint8Array", "Uint8ClampedArray", "WeakMap", "WeakRef", "WeakSet", "WebAssembly",
        "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "eval", "globalThis", "isFinite",
        "isNaN", "parseFloat", "parseInt", "undefined", "unescape",
        // Bootstrap.js
        "console", "crypto", "os", "performance", "setTimeout", "clearTimeout", "TextEncoder", "TextDecoder",
        // ClearScript (frozen, cannot be removed)
        "EngineInternal",
    ];

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task GlobalThis_Enumeration_HoldsOnlyKnownNames()
    {
        const string code = "import js\njs.eval(\"JSON.stringify(Reflect.ownKeys(globalThis).map(String))\")";
        var names = (await RunJsonAsync(_sandbox, code)).EnumerateArray().Select(n => n.GetString()!).ToList();

        var unknown = names.Where(n => !KnownGlobals.Contains(n)).ToList();
        Assert.True(unknown.Count == 0, $"Unexpected globals in the realm: {string.Join(", ", unknown)}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RealmDeepWalk_FromGlobalThisAndPyodideApi_FindsNoHostObject()
    {
        // Breadth-first over every data property (no getters: no side effects) and prototype, asking
        // ClearScript itself whether each object is a host object.
        const string code = """
            import js, pyodide_js
            walk = js.eval('''(roots) => {
              const isHost = EngineInternal.isHostObject;
              const seen = new Set(), queue = [], hosts = [];
              for (const r of roots) queue.push([r, 'root']);
              let i = 0;
              while (i < queue.length && seen.size < 60000) {
                const [o, path] = queue[i++];
                if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
                seen.add(o);
                try { if (isHost(o)) hosts.push(path); } catch (e) { /* a PyProxy may refuse the probe */ }
                if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof WebAssembly.Memory) continue;
                let keys = [];
                try { keys = Reflect.ownKeys(o); } catch (e) { continue; }
                for (const k of keys) {
                  let d; try { d = Object.getOwnPropertyDescriptor(o, k); } catch (e) { continue; }
                  if (d && 'value' in d) queue.push([d.value, path + '.' + String(k)]);
                }
                try { queue.push([Object.getPrototypeOf(o), path + '.__proto__']); } catch (e) {}
              }
              return JSON.stringify({ seen: seen.size, hosts });
            }''')
            walk(js.Array.of(js.globalThis, pyodide_js, pyodide_js._module))
            """;
        var report = await RunJsonAsync(_sandbox, code);

        Assert.True(report.GetProperty("seen").GetInt32() > 1000, "The walk saw too little of the realm to mean anything.");
        Assert.True(report.GetProperty("hosts").GetArrayLength() == 0, $"Host objects reachable from the realm: {report.GetProperty("hosts").GetRawText()}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EngineInternal_MembersCalledWithOddArguments_YieldNoHostObject()
    {
        const string code = """
            import js
            probe = js.eval('''() => {
              const E = EngineInternal, out = {}, isHost = E.isHostObject;
              const argSets = [[], [1], [{}, {}], [null, null, null], [globalThis, Function, []], ['x', 'y', 'z'],
                               [() => 1, {}, [1, 2]], [Symbol('s')], [new Proxy({}, {})]];
              for (const name of Object.getOwnPropertyNames(E)) {
                if (typeof E[name] !== 'function') continue;
                for (const args of argSets) {
                  let r;
                  try { r = E[name](...args); } catch (e) { r = e; }
                  if (r !== null && (typeof r === 'object' || typeof r === 'function') && isHost(r)) out[name + '/' + args.length] = 'HOST OBJECT';
                }
              }
              return JSON.stringify(out);
            }''')
            probe()
            """;
        var hostHits = await RunJsonAsync(_sandbox, code);

        Assert.False(hostHits.EnumerateObject().Any(), $"EngineInternal handed out host objects: {hostHits.GetRawText()}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EngineInternal_ReplaceOrDelete_LeavesItFrozen()
    {
        const string code = """
            import js
            js.eval('''(() => {
              const E = EngineInternal, before = E.invokeMethod;
              try { E.invokeMethod = () => 'pwned'; } catch (e) {}
              try { delete globalThis.EngineInternal; } catch (e) {}
              try { Object.defineProperty(globalThis, 'EngineInternal', { value: {} }); } catch (e) {}
              return JSON.stringify({ frozen: Object.isFrozen(EngineInternal), same: EngineInternal === E && E.invokeMethod === before });
            })()''')
            """;
        var state = await RunJsonAsync(_sandbox, code);

        Assert.True(state.GetProperty("frozen").GetBoolean());
        Assert.True(state.GetProperty("same").GetBoolean());
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostFunctionNames_LookedUpInRealm_AreUndefined()
    {
        const string code = """
            import js
            names = ['HostFunctions', 'ExtendedHostFunctions', 'xHost', 'host', 'clr', 'lib', 'mscorlib', 'System', 'Performance',
                     'read', 'readbuffer', 'load', 'quit', 'print', 'printErr', 'readline', 'scriptArgs', 'arguments',
                     'process', 'Deno', 'Bun', 'require', 'module', 'importScripts', 'fetch', 'XMLHttpRequest', 'WebSocket',
                     'EventSource', 'Worker', 'navigator', 'location', 'document', 'window', 'self', 'chrome']
            {n: str(js.eval('typeof ' + n)) for n in names}
            """;
        var types = await RunValueAsync(_sandbox, code);

        var defined = types.EnumerateObject().Where(p => p.Value.GetString() != "undefined").Select(p => $"{p.Name}:{p.Value}").ToList();
        Assert.True(defined.Count == 0, $"Host-ish names defined in the realm: {string.Join(", ", defined)}");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ConstructorChainReturnThis_FromJsModule_YieldsOnlyTheBareRealm()
    {
        const string code = """
            import js
            g1 = js.constructor.constructor('return this')()
            g2 = js.Function('return this')()
            g3 = js.eval('(0, eval)("this")')
            same = js.eval('(a, b, c) => a === globalThis && b === globalThis && c === globalThis')(g1, g2, g3)
            hostish = js.eval('(g) => EngineInternal.isHostObject(g) || Object.getOwnPropertyNames(g).some(k => { try { const v = g[k]; return v !== null && (typeof v === "object" || typeof v === "function") && EngineInternal.isHostObject(v); } catch (e) { return false; } })')(g1)
            [bool(same), bool(hostish)]
            """;
        var value = await RunValueAsync(_sandbox, code);

        Assert.True(value[0].GetBoolean(), "The Function constructor reached a different global than the realm's.");
        Assert.False(value[1].GetBoolean(), "The realm's global exposes a host object.");
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PerformanceAndCrypto_ExposeNoHostMembers()
    {
        // `performance` wraps ClearScript's Performance object (which has a thread-blocking `sleep`).
        const string code = """
            import js
            js.eval('''JSON.stringify({
              perf: Reflect.ownKeys(performance).map(String),
              sleep: typeof performance.sleep,
              hostPerf: EngineInternal.isHostObject(performance) || EngineInternal.isHostObject(performance.now),
              crypto: Reflect.ownKeys(crypto).map(String),
              hostCrypto: EngineInternal.isHostObject(crypto.getRandomValues) || EngineInternal.isHostObject(os.system),
              nowIsNumber: typeof performance.now() === 'number',
            })''')
            """;
        var value = await RunJsonAsync(_sandbox, code);

        Assert.Equal("undefined", value.GetProperty("sleep").GetString());
        Assert.False(value.GetProperty("hostPerf").GetBoolean());
        Assert.False(value.GetProperty("hostCrypto").GetBoolean());
        Assert.True(value.GetProperty("nowIsNumber").GetBoolean());
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EngineInternalStackTrace_AndErrorStacks_ShowNoHostPaths()
    {
        const string code = """
            import js
            js.eval('''JSON.stringify([
              String(EngineInternal.getStackTrace()),
              String(new Error('x').stack),
              (() => { try { crypto.getRandomValues(null); } catch (e) { return String(e.stack); } })(),
              (() => { try { os.system('id'); } catch (e) { return String(e.stack); } })(),
            ])''')
            """;
        var stacks = await RunValueAsync(_sandbox, code);

        AssertNoHostData(stacks.GetString()!, code);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OsSystemBridge_AnyCommandButTheEntropyRequest_IsRefused()
    {
        const string code = """
            import js
            js.eval('''(() => {
              const tries = [['sh', ['-c', 'cat /etc/passwd']], ['sh', ['-c', 'head -c16 /dev/urandom | base64 --wrap=0; id']],
                             ['id', []], ['sh', ['-c', 'head -c99999 /dev/urandom | base64 --wrap=0']],
                             ['sh', ['-c', { toString() { return 'id'; } }]]];
              return JSON.stringify(tries.map(([c, a]) => { try { return 'RAN ' + String(os.system(c, a)).slice(0, 40); } catch (e) { return String(e); } }));
            })()''')
            """;
        var outcomes = await RunJsonAsync(_sandbox, code);

        foreach (var outcome in outcomes.EnumerateArray())
        {
            Assert.False(outcome.GetString()!.StartsWith("RAN", StringComparison.Ordinal), $"os.system ran: {outcome}");
        }

        await AssertStillAnswersAsync(_sandbox);
    }
}
