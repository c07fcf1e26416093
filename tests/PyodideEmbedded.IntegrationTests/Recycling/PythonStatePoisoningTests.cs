using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Tenant A poisons Python's own state (pure Python, no JavaScript, no writes): the reset must be done IN PLACE
/// (same isolate, memory re-mapped), and tenant B must find none of it. These cases are what prove the in-place
/// reset clean: a new isolate would be clean trivially. One sandbox for the class; each test starts from a reset.
/// </summary>
public sealed class PythonStatePoisoningTests(DefaultRecyclingFixture fixture) : IClassFixture<DefaultRecyclingFixture>
{
    private RecyclingSandbox Tenant => fixture.Tenant;

    /// <summary>Probe on a clean sandbox, poison, reset (asserting the path), probe again: both probes must agree and
    /// nothing A left may speak in B's output.</summary>
    private async Task AssertResetUndoesAsync(string poison, string probe, ResetPath path = ResetPath.InPlace)
    {
        await Tenant.CleanAsync();
        var clean = await Tenant.ValueAsync(probe);
        await Tenant.PoisonAsync(poison);
        await Tenant.ResetAsync(path);

        var result = await Tenant.Sandbox.RunAsync(probe);
        Assert.True(result.Succeeded, $"Tenant B's probe failed after the reset: {result.Error?.Summary}\n{result.Error?.Traceback}");
        Same.Json(clean, result.Value!.Value, "after the reset");
        AssertSilent(result);
    }

    // Every hook tenant A leaves behind writes TENANT-A when it fires.
    private static void AssertSilent(SandboxResult result)
    {
        Assert.DoesNotContain("TENANT-A", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("TENANT-A", result.Stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Globals_AreGone() => AssertResetUndoesAsync(
        "secret_a = 'tenant A'\ndef helper_a(): return 1\nclass ClassA: pass",
        "sorted(n for n in globals() if not n.startswith('__'))");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Builtins_AddedAndReplaced_AreGone() => AssertResetUndoesAsync(
        """
        import builtins
        builtins.EVIL_A = 1
        builtins.len = lambda x: 42
        builtins.print = lambda *a, **k: None
        _real_import = builtins.__import__
        def _evil_import(name, *a, **k):
            import sys; sys.stderr.write('TENANT-A import hook\n')
            return _real_import(name, *a, **k)
        builtins.__import__ = _evil_import
        """,
        """
        import builtins, collections
        print('b', end='')
        [hasattr(builtins, 'EVIL_A'), len([1, 2]), builtins.__import__.__name__, builtins.print.__name__, len(dir(builtins))]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task SysModulesEntries_AndPatchedStdlib_AreGone() => AssertResetUndoesAsync(
        """
        import sys, json, os, os.path, base64, math
        json.dumps = lambda *a, **k: '"EVIL"'
        json.loads = lambda *a, **k: 'EVIL'
        os.path.join = lambda *a: 'EVIL'
        os.getcwd = lambda: '/evil'
        base64.b64encode = lambda b: b'EVIL'
        math.pi = 3
        sys.modules['evil_a'] = type(sys)('evil_a')
        sys.modules['collections'] = type(sys)('collections')
        sys.modules['textwrap'] = None
        """,
        """
        import sys, json, os, os.path, base64, math, collections, textwrap
        [json.dumps([1]), json.loads('[2]'), os.path.join('a', 'b'), os.getcwd(), base64.b64encode(b'x').decode(), math.pi,
         'evil_a' in sys.modules, hasattr(collections, 'OrderedDict'), textwrap.dedent(' x'), sorted(sys.modules)]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task ImportMachinery_SysPathHooksAndFinders_AreGone() => AssertResetUndoesAsync(
        """
        import sys
        sys.path.insert(0, '/tmp/evil')
        sys.path.append('/evil')
        class EvilFinder:
            def find_spec(self, name, path=None, target=None):
                sys.stderr.write('TENANT-A finder ' + name + '\n')
                return None
        sys.meta_path.insert(0, EvilFinder())
        sys.path_hooks.insert(0, lambda p: (_ for _ in ()).throw(ImportError()))
        sys.path_importer_cache.clear()
        """,
        """
        import sys
        import colorsys  # not imported by the start: goes through the finders
        [list(sys.path), [type(f).__name__ for f in sys.meta_path], len(sys.path_hooks)]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task OsEnviron_IsAsStarted() => AssertResetUndoesAsync(
        "import os\nos.environ['EVIL_A'] = '1'\nos.environ['PATH'] = '/evil'\nos.environ.pop('HOME', None)\nos.putenv('EVIL_A2', '1')",
        "import os, posix\n[sorted(os.environ.items()), sorted((k.decode(), v.decode()) for k, v in posix.environ.items())]");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task InterpreterSettings_RecursionLimitSwitchIntervalIntDigits_AreAsStarted() => AssertResetUndoesAsync(
        "import sys\nsys.setrecursionlimit(60)\nsys.setswitchinterval(1.5)\nsys.set_int_max_str_digits(640)\nsys.dont_write_bytecode = not sys.dont_write_bytecode",
        "import sys\n[sys.getrecursionlimit(), sys.getswitchinterval(), sys.get_int_max_str_digits(), sys.dont_write_bytecode]");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task AuditHook_DoesNotFireForTenantB() => AssertResetUndoesAsync(
        """
        import sys, builtins
        def hook(event, args):
            if event in ('compile', 'exec', 'open', 'import'):
                builtins.AUDITED_BY_A = getattr(builtins, 'AUDITED_BY_A', 0) + 1
                if event == 'import':
                    sys.__stderr__.write('TENANT-A audit ' + event + '\n')
        sys.addaudithook(hook)
        """,
        """
        import builtins, colorsys, os
        compile('1', '<b>', 'exec')
        open('/lib/python314.zip', 'rb').close()
        hasattr(builtins, 'AUDITED_BY_A')
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task TraceProfileAndMonitoring_AreGone() => AssertResetUndoesAsync(
        """
        import sys, threading
        def hook(*args):
            sys.__stderr__.write('TENANT-A trace\n')
            return hook
        sys.settrace(hook)
        sys.setprofile(hook)
        threading.settrace(hook)
        threading.setprofile(hook)
        if hasattr(sys, 'monitoring'):
            sys.monitoring.use_tool_id(3, 'tenant-a')
            sys.monitoring.register_callback(3, sys.monitoring.events.PY_START, lambda *a: sys.__stderr__.write('TENANT-A monitor\n'))
            sys.monitoring.set_events(3, sys.monitoring.events.PY_START)
        """,
        """
        import sys, threading
        def f(): return 1
        f()
        [sys.gettrace() is None, sys.getprofile() is None, threading.gettrace() is None, threading.getprofile() is None,
         sys.monitoring.get_tool(3) if hasattr(sys, 'monitoring') else None,
         sys.monitoring.get_events(3) if hasattr(sys, 'monitoring') else None]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Atexit_AndExceptDisplayHooks_AreGone() => AssertResetUndoesAsync(
        """
        import atexit, sys
        atexit.register(lambda: sys.__stderr__.write('TENANT-A atexit\n'))
        sys.excepthook = lambda *a: sys.__stderr__.write('TENANT-A excepthook\n')
        sys.displayhook = lambda v: sys.__stderr__.write('TENANT-A displayhook\n')
        sys.unraisablehook = lambda u: sys.__stderr__.write('TENANT-A unraisable\n')
        sys.breakpointhook = lambda *a: None
        """,
        """
        import atexit, sys
        [atexit._ncallbacks(), sys.excepthook is sys.__excepthook__, sys.displayhook is sys.__displayhook__,
         sys.unraisablehook is sys.__unraisablehook__, sys.breakpointhook is sys.__breakpointhook__]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Finalizers_DelAndWeakrefCallbacks_NeverRunForTenantB() => AssertResetUndoesAsync(
        """
        import sys, weakref, builtins
        class Evil:
            def __del__(self):
                sys.__stderr__.write('TENANT-A __del__\n')
                builtins.FINALIZED_BY_A = 1
        a, b = Evil(), Evil()
        a.other, b.other = b, a   # a cycle: only the collector frees it
        kept = Evil()
        class Target: pass
        target = Target()
        weakref.finalize(target, lambda: sys.__stderr__.write('TENANT-A weakref.finalize\n'))
        ref = weakref.ref(target, lambda r: sys.__stderr__.write('TENANT-A weakref callback\n'))
        sys.modules['__evil_keep__'] = type(sys)('k')
        sys.modules['__evil_keep__'].target = target
        """,
        """
        import gc, builtins, sys
        gc.collect()
        [hasattr(builtins, 'FINALIZED_BY_A'), '__evil_keep__' in sys.modules]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task ThreadLocalsAndThreadAttributes_AreGone() => AssertResetUndoesAsync(
        """
        import threading, _thread
        local = threading.local()
        local.secret = 'tenant A'
        threading.evil_local_a = local
        _thread.evil_local_a = _thread._local()
        threading.current_thread().secret = 'tenant A'
        threading.current_thread().name = 'EVIL-A'
        """,
        """
        import threading, _thread
        [hasattr(threading, 'evil_local_a'), hasattr(_thread, 'evil_local_a'), hasattr(threading.current_thread(), 'secret'),
         threading.current_thread().name]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task GcState_FreezeThresholdsDebug_AreAsStarted() => AssertResetUndoesAsync(
        "import gc\ngc.freeze()\ngc.disable()\ngc.set_threshold(1, 1, 1)\ngc.set_debug(gc.DEBUG_STATS | gc.DEBUG_SAVEALL)\ngc.collect()",
        "import gc\n[gc.get_freeze_count(), gc.isenabled(), list(gc.get_threshold()), gc.get_debug(), len(gc.garbage)]");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task SignalHandlersAndFaulthandler_AreAsStarted() => AssertResetUndoesAsync(
        """
        import signal, faulthandler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *a: None)
        faulthandler.enable()
        """,
        "import signal, faulthandler\n[str(signal.getsignal(signal.SIGINT)), str(signal.getsignal(signal.SIGTERM)), faulthandler.is_enabled()]");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task InterpreterWideRegistries_WarningsCodecsDecimalLocaleAsyncgen_AreAsStarted() => AssertResetUndoesAsync(
        """
        import warnings, codecs, decimal, locale, sys, copyreg, encodings
        warnings.simplefilter('error')
        def search(name):
            if name == 'utf_8_evil':
                return codecs.lookup('rot13')
        codecs.register(search)
        decimal.getcontext().prec = 3
        locale.setlocale(locale.LC_ALL, 'C')
        sys.set_asyncgen_hooks(firstiter=lambda g: None, finalizer=lambda g: None)
        copyreg.dispatch_table[complex] = lambda c: (complex, (0, 0))
        encodings._cache['utf-8'] = codecs.lookup('rot13')
        """,
        """
        import warnings, codecs, decimal, locale, sys, copyreg, encodings, pickle
        def evil_codec():
            try:
                codecs.lookup('utf_8_evil')
                return True
            except LookupError:
                return False
        [len(warnings.filters), evil_codec(), decimal.getcontext().prec, locale.setlocale(locale.LC_ALL),
         sys.get_asyncgen_hooks().firstiter is None, complex in copyreg.dispatch_table, 'é'.encode('utf-8').decode('utf-8'),
         pickle.loads(pickle.dumps(1 + 2j)) == 1 + 2j]
        """);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task SuspendedGeneratorsAndCoroutines_WithFinallyBlocks_NeverResumeForTenantB() => AssertResetUndoesAsync(
        """
        import sys, builtins
        def gen():
            try:
                yield 1
                yield 2
            finally:
                sys.__stderr__.write('TENANT-A generator finally\n')
                builtins.GEN_CLOSED_BY_A = 1
        kept_gen = gen()
        next(kept_gen)
        async def coro():
            try:
                await __import__('types').coroutine(lambda: (yield))()
            finally:
                sys.__stderr__.write('TENANT-A coroutine finally\n')
        kept_coro = coro()
        kept_coro.send(None)
        """,
        "import gc, builtins\ngc.collect()\nhasattr(builtins, 'GEN_CLOSED_BY_A')");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task StandardDescriptorsClosedOrReplaced_AreRestored_OnANewIsolate()
    {
        // fds 0-2 belong to the start: closing or replacing one reaches past the reset (new isolate).
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("import os\nos.close(0)\nfd = os.open('/lib/python314.zip', os.O_RDONLY)\nos.dup2(fd, 2)");
        await Tenant.ResetAsync(ResetPath.NewIsolate);

        var b = await Tenant.Sandbox.RunAsync("import os, sys\nos.fstat(0)\nsys.stderr.write('err-b')\nsys.stderr.flush()\nprint('out-b', end='')");
        Assert.True(b.Succeeded, b.Error?.Summary);
        Assert.Equal("out-b", b.Stdout);
        Assert.Equal("err-b", b.Stderr);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task InternedStrings_AreForgotten()
    {
        // sys.intern returns the first string interned with a value: if A's is still in the table, B gets A's object.
        const string probe = "import sys\ns = ''.join(['tenant-A-', 'interned-', 'canary'])\nsys.intern(s) is s";
        return AssertResetUndoesAsync("import sys\nkept = sys.intern(''.join(['tenant-A-', 'interned-', 'canary']))", probe);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OpenFileDescriptors_ReadOnlyOnStdlibFiles_AreClosed()
    {
        await Tenant.CleanAsync();
        // Read-only opens of the standard library stay in place: os.open, and a file object kept in a global.
        var fds = await Tenant.PoisonAsync("""
            import os
            fd = os.open('/lib/python314.zip', os.O_RDONLY)   # the standard library: the one regular file under /lib
            os.read(fd, 10)
            kept_file = open('/lib/python314.zip', 'rb')
            kept_file.read(10)
            [fd, kept_file.fileno()]
            """);
        var numbers = fds.Value!.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray();

        await Tenant.ResetAsync(ResetPath.InPlace);

        var open = await Tenant.ValueAsync(
            "import os\ndef is_open(fd):\n    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n        return False\n[is_open(fd) for fd in fds]",
            new RunInputs { Globals = new Dictionary<string, object?> { ["fds"] = numbers } });
        Assert.All(open.EnumerateArray(), e => Assert.False(e.GetBoolean(), $"A descriptor of tenant A ({string.Join(",", numbers)}) is still open in B: {open.GetRawText()}"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Random_AfterReset_DiffersFromTenantA_AndFromAnotherFreshSandbox()
    {
        const string draw = "import random, os\n[[random.random() for _ in range(4)], random.getrandbits(64), os.urandom(8).hex()]";
        await Tenant.CleanAsync();
        var a = await Tenant.ValueAsync(draw);
        await Tenant.ResetAsync(ResetPath.InPlace);
        // The memory is re-mapped to the start's: without a reseed B would draw exactly A's numbers.
        var b = await Tenant.ValueAsync(draw);
        await using var other = await PythonSandbox.CreateAsync(TestOptions.Default);
        var c = (await other.RunAsync(draw)).Value!.Value;

        for (var i = 0; i < 3; i++)
        {
            Assert.False(JsonElement.DeepEquals(a[i], b[i]), $"Part {i} of B's draw equals A's: {b[i].GetRawText()}");
            Assert.False(JsonElement.DeepEquals(c[i], b[i]), $"Part {i} of B's draw equals another fresh sandbox's: {b[i].GetRawText()}");
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Random_SeededByTenantA_IsReseededForTenantB()
    {
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("import random\nrandom.seed(1234)\nimport random as r2\nr2.getstate = lambda: 'EVIL'");
        await Tenant.ResetAsync(ResetPath.InPlace);

        var b = await Tenant.ValueAsync("import random\nx = random.random()\n[x == random.Random(1234).random(), random.getstate.__name__]");
        Assert.False(b[0].GetBoolean(), "B's random continues A's seed 1234");
        Assert.Equal("getstate", b[1].GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RepeatedResets_StayInPlace_AndEachTenantIsClean()
    {
        await Tenant.CleanAsync();
        for (var i = 0; i < 5; i++)
        {
            var seen = await Tenant.ValueAsync($"import builtins\nseen = [n for n in list(globals()) + dir(builtins) if n.startswith('tenant_')]\ntenant_{i} = 1\nbuiltins.tenant_b{i} = 1\nseen");
            Assert.Equal(0, seen.GetArrayLength());
            await Tenant.ResetAsync(ResetPath.InPlace);
        }
    }
}
