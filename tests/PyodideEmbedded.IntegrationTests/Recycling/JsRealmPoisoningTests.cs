namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Tenant A, with JS interop on, poisons the JavaScript realm: globals, intrinsics, Pyodide's API object and Module,
/// the wasm function table, timers, finalization registries. None of that is in Python's memory, so the reset must
/// take a NEW ISOLATE (every case here crosses into JavaScript), and tenant B must find none of it.
/// </summary>
public sealed class JsRealmPoisoningTests(InteropRecyclingFixture fixture) : IClassFixture<InteropRecyclingFixture>
{
    private RecyclingSandbox Tenant => fixture.Tenant;

    // The clean probe runs on the same isolate before A (its own JavaScript crossing makes no difference to the
    // expected path: A's poison alone reaches the realm).
    private async Task AssertResetUndoesAsync(string poison, string probe)
    {
        await Tenant.CleanAsync();
        var clean = await Tenant.ValueAsync(probe);
        await Tenant.PoisonAsync(poison);
        await Tenant.ResetAsync(ResetPath.NewIsolate);

        var result = await Tenant.Sandbox.RunAsync(probe);
        Assert.True(result.Succeeded, $"Tenant B's probe failed after the reset: {result.Error?.Summary}\n{result.Error?.Traceback}");
        Same.Json(clean, result.Value!.Value, "after the reset");
        Assert.DoesNotContain("TENANT-A", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Globals_AndIntrinsics_AreAsStarted() => AssertResetUndoesAsync(
        """
        import js
        js.globalThis.evilA = 1
        js.eval('''
          Object.prototype.evilProtoA = 1;
          Array.prototype.evilArrA = 1;
          Function.prototype.evilFnA = 1;
          const stringify = JSON.stringify;
          JSON.stringify = function (...a) { globalThis.stringifiedByA = 1; return stringify.apply(this, a); };
          const then = Promise.prototype.then;
          Promise.prototype.then = function (...a) { globalThis.thenByA = 1; return then.apply(this, a); };
          Promise.evilA = 1;
          globalThis.Promise = class EvilPromise extends Promise {};
          const call = Function.prototype.call;
          Function.prototype.call = function (...a) { globalThis.callByA = 1; return call.apply(this, a); };
          Object.defineProperty(globalThis, 'evilGetterA', { get() { return 'A'; }, configurable: false });
          Object.freeze(Math);
        ''')
        """,
        """
        import js
        str(js.eval('''JSON.stringify([
          typeof evilA, typeof evilGetterA, ({}).evilProtoA, [].evilArrA, (function () {}).evilFnA, Promise.evilA, Promise.name,
          String(JSON.stringify).includes('[native code]'), String(Promise.prototype.then).includes('[native code]'),
          String(Function.prototype.call).includes('[native code]'), Object.isFrozen(Math),
          typeof stringifiedByA, typeof thenByA, typeof callByA])'''))
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task PyodideApiObject_AndModuleFields_AreAsStarted() => AssertResetUndoesAsync(
        """
        import pyodide_js
        pyodide_js.fooA = 1
        pyodide_js._module.barA = 1
        pyodide_js._module.FS.evilA = 1
        import js
        js.eval('Object.getPrototypeOf(globalThis).evilProtoGlobalA = 1')
        """,
        """
        import pyodide_js, js
        [repr(getattr(pyodide_js, 'fooA', 'absent')), repr(getattr(pyodide_js._module, 'barA', 'absent')),
         repr(getattr(pyodide_js._module.FS, 'evilA', 'absent')),          str(js.eval('typeof evilProtoGlobalA'))]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task WasmFunctionTable_CtypesCallbacks_AreGone() => AssertResetUndoesAsync(
        // Each CFUNCTYPE callback adds an entry to the wasm function table (a JavaScript object).
        """
        import ctypes
        CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)
        kept_callbacks = [CALLBACK(lambda x: x + 1) for _ in range(20)]
        assert kept_callbacks[0](1) == 2
        """,
        """
        import pyodide_js
        m = pyodide_js._module
        table = getattr(m, 'wasmTable', None) or getattr(getattr(m, 'wasmExports', None), '__indirect_function_table', None)
        [table.length if table is not None else -1, 'kept_callbacks' in globals()]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Timers_SetByTenantA_NeverFireForTenantB()
    {
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("""
            import js
            js.setTimeout(js.Function.new('globalThis.timeoutByA = 1'), 150)
            js.setTimeout(js.Function.new('globalThis.intervalByA = 1'), 0)
            """);
        await Tenant.ResetAsync(ResetPath.NewIsolate);

        // B waits past both timers on the event loop.
        var b = await Tenant.ValueAsync("import asyncio, js\nawait asyncio.sleep(0.4)\nstr(js.eval('typeof timeoutByA + typeof intervalByA'))");
        Assert.Equal("undefinedundefined", b.GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task FinalizationRegistry_AndWeakRefs_AreGone() => AssertResetUndoesAsync(
        """
        import js
        js.eval('''
          globalThis.registryA = new FinalizationRegistry(h => { globalThis.finalizedByA = h; });
          (function () { for (let i = 0; i < 1000; i++) registryA.register({ i }, 'A' + i); })();
          globalThis.weakA = new WeakRef({ secret: 'A' });
        ''')
        """,
        """
        import asyncio, js
        await asyncio.sleep(0.05)
        str(js.eval('typeof registryA + typeof finalizedByA + typeof weakA'))
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task PythonObjectsHeldByJavaScript_AreGone() => AssertResetUndoesAsync(
        // Proxies of Python objects kept by the realm (hiwire references, create_proxy): a new isolate drops them all.
        """
        import js, sys
        from pyodide.ffi import create_proxy
        class Evil:
            def __del__(self): sys.__stderr__.write('TENANT-A proxy __del__\\n')
        js.globalThis.keptByA = create_proxy(Evil())
        js.globalThis.keptDictA = create_proxy({'secret': 'A'})
        """,
        "import js\nstr(js.eval('typeof keptByA + typeof keptDictA'))");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task PythonStatePoisonedThroughJs_IsGoneToo() => AssertResetUndoesAsync(
        // The realm and Python together: a JS-visible callback into Python, plus Python-level poison.
        """
        import js, builtins, json
        builtins.EVIL_A = 1
        json.dumps = lambda *a, **k: '"EVIL"'
        js.globalThis.pyCallbackA = lambda: 'A'
        secret_a = 'tenant A'
        """,
        """
        import js, builtins, json
        [hasattr(builtins, 'EVIL_A'), json.dumps([1]), 'secret_a' in globals(), str(js.eval('typeof pyCallbackA'))]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AfterANewIsolate_APurePythonTenant_IsResetInPlaceAgain()
    {
        // What marked A's isolate touched does not carry over to the new one.
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("import js\njs.globalThis.evilA = 1");
        await Tenant.ResetAsync(ResetPath.NewIsolate);
        await Tenant.PoisonAsync("secret_b = 1");
        await Tenant.ResetAsync(ResetPath.InPlace);
        Same.Json("[false,false]", await Tenant.ValueAsync("import js\n['secret_b' in globals(), str(js.eval('typeof evilA')) != 'undefined']"));
    }
}
