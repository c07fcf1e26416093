using System.Security.Cryptography;
using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;
using Microsoft.ClearScript.V8;
using PyodideEmbedded.Internal.Protocol;

namespace PyodideEmbedded.Internal;

/// <summary>
/// One V8 isolate with Pyodide booted in it. Not thread-safe for runs (the owner serialises them);
/// <see cref="RequestSoftInterrupt"/> and <see cref="Terminate"/> may be called from any thread.
/// </summary>
internal sealed partial class PyodideEngine : IDisposable
{
    private const string AssetPrefix = "/pyodide/";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(60);

    // Explicit, minimal engine features: no debugging, host exceptions never shown to script.
    private const V8ScriptEngineFlags EngineFlags =
        V8ScriptEngineFlags.EnableDynamicModuleImports
        | V8ScriptEngineFlags.EnableTaskPromiseConversion
        | V8ScriptEngineFlags.HideHostExceptions
        | V8ScriptEngineFlags.AddPerformanceObject;

    private static readonly string s_bootstrapSource = ReadResource("Bootstrap.js");
    private static readonly string s_runnerSource = ReadResource("Runner.py");
    private static readonly string s_preloadSource = ReadResource("Preload.py");

    private readonly V8ScriptEngine _engine;
    // One function for every call into the sandbox (a HostCall and its arguments), which forwards to
    // Bootstrap.js's dispatcher. ClearScript calls a function handle that came from Evaluate in ~3 µs,
    // but one read with GetProperty in 35-60 µs and ~32 KB of garbage per call (measured), so every
    // call goes through this handle.
    private ScriptObject? _calls;
    private LockedModuleLoader.Module? _compiledModule;
    private ITypedArray<int>? _interruptBuffer;
    private IntPtr _interruptFlag;
    private int _disposed;

    static PyodideEngine()
    {
        // With V8's background work (concurrent GC and compilation) on, starting and disposing
        // isolates in parallel under load aborted the process in V8 ("Check failed:
        // Heap::InFromPage", "Handle is not initialized"): 1 to 6 of 6 parallel CLI starts here.
        // Without it, none did, and a CPU-bound run is as fast (~390 ms either way, measured).
        V8Settings.GlobalFlags |= V8GlobalFlags.DisableBackgroundWork;
        // Without background work, ClearScript runs a task that V8 posts to an isolate at once, on
        // the posting thread. V8's wasm code GC (the compiled Pyodide module is shared by every
        // isolate) posts one while holding the wasm engine's lock, and the task takes that lock
        // again: the process deadlocked in the test suite. The code GC is off; the price is that
        // code replaced by tier-up is kept while any sandbox uses the module.
        V8Flags.Apply("--no-wasm-code-gc");
        MallocTuning.FixMmapThreshold();
    }

    private PyodideEngine(V8ScriptEngine engine) => _engine = engine;

    /// <summary>The door to the granted host functions; null when none were granted.</summary>
    internal FunctionBridge? Functions { get; private set; }

    public string PyodideVersion { get; private set; } = "";

    // Pyodide's JavaScript half (1.25 MB): parsing and compiling it was ~100 ms of every start.
    private const string CompiledModuleName = "pyodide.asm.mjs";

    /// <summary>Whether V8 took the code cache it was given at boot (it refuses one made by another V8 or with other flags).</summary>
    public bool CodeCacheAccepted { get; private set; }

    /// <summary>
    /// V8's code cache for Pyodide's JavaScript as compiled by now: taken after the boot and a first
    /// run, it holds the functions those compiled, not only the top level. On the engine thread.
    /// </summary>
    private byte[]? MakeCodeCache()
    {
        if (_compiledModule is null)
        {
            return null;
        }

        using var _ = _engine.Compile(_compiledModule.Info, _compiledModule.Text, V8CacheKind.Code, out var cacheBytes);
        return cacheBytes is { Length: > 0 } ? cacheBytes : null;
    }

    /// <summary>
    /// Creates a sandbox's isolate, empty, on the thread that will make its runs. Callers start this
    /// before they check the assets and load the memory image, so that V8's own start-up (the first
    /// isolate of a process: ~80 ms) runs beside that work instead of after it.
    /// </summary>
    public static Task<PyodideEngine> CreateAsync(EngineThread thread, SandboxOptions options) =>
        thread.RunAsync(() => Create(options));

    /// <summary>Disposes an engine from <see cref="CreateAsync"/> once it exists (a start that failed first).</summary>
    public static async Task DisposeWhenCreatedAsync(Task<PyodideEngine> creating)
    {
        try
        {
            (await creating.ConfigureAwait(false)).Dispose();
        }
        catch (Exception)
        {
            // Never made: nothing to dispose (the start that awaited it reported why).
        }
    }

    /// <summary>
    /// Starts a sandbox in the engine from <see cref="CreateAsync"/>, from the folder's memory image
    /// (read from disk or made on first use).
    /// </summary>
    public static async Task<PyodideEngine> StartAsync(Task<PyodideEngine> creating, AssetStore assets, SandboxOptions options, EngineThread thread, CancellationToken cancellationToken)
    {
        var cache = StartupCache.For(assets);
        var functions = options.Functions?.Freeze();
        var snapshot = await cache.SnapshotAsync(options.StartupCachePath, cancellationToken).ConfigureAwait(false);
        PyodideEngine self;
        ScriptObject api;
        try
        {
            var bridge = new AssetBridge(assets, cache.WasmWithMemoryLimit(options.MemoryLimitBytes), snapshot);
            (self, api) = await BootAsync(thread, creating, assets, bridge, options, BootMode.Restore, cancellationToken, functions).ConfigureAwait(false);
        }
        catch (SandboxStartException) when (cache.RejectDiskImage(snapshot))
        {
            // An image from disk that passed its checks but does not restore (made wrong, or planted): the cache
            // forgets it and boots a new one (which replaces the file), and this start tries once more with that.
            snapshot = await cache.SnapshotAsync(options.StartupCachePath, cancellationToken).ConfigureAwait(false);
            var bridge = new AssetBridge(assets, cache.WasmWithMemoryLimit(options.MemoryLimitBytes), snapshot);
            (self, api) = await BootAsync(thread, CreateAsync(thread, options), assets, bridge, options, BootMode.Restore, cancellationToken, functions).ConfigureAwait(false);
        }

        try
        {
            await thread.RunAsync(() =>
            {
                self._image = snapshot;
                self.Attach(api);
                self.WarmUp();
                if (!self.CodeCacheAccepted && cache.WantsCodeCache)
                {
                    cache.OfferCodeCache(self.MakeCodeCache());
                }

                return true;
            }).ConfigureAwait(false);
            return self;
        }
        catch
        {
            self.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Boots Pyodide from scratch in a template engine that never runs user code, imports what the
    /// runner needs, and returns the memory snapshot that sandboxes are then restored from.
    /// </summary>
    public static async Task<byte[]> MakeSnapshotAsync(AssetStore assets, StartupCache cache)
    {
        // Generous limits: the image only records what start-up used, and each restored sandbox
        // gets its own limits from its own options.
        var options = new SandboxOptions { MemoryLimitBytes = TemplateMemoryLimitBytes };
        using var thread = new EngineThread("PyodideEmbedded template");
        var bridge = new AssetBridge(assets, cache.WasmWithMemoryLimit(options.MemoryLimitBytes), snapshot: null);
        var (template, booted) = await BootAsync(thread, CreateAsync(thread, options), assets, bridge, options, BootMode.MakeSnapshot, CancellationToken.None).ConfigureAwait(false);
        using (template)
        {
            using var image = (ScriptObject)booted.GetProperty("snapshot");
            return ((ITypedArray<byte>)image).ToArray();
        }
    }

    internal const long TemplateMemoryLimitBytes = 1024L * 1024 * 1024;

    /// <summary>The code that shapes the memory image besides the assets: part of its cache key.</summary>
    internal static IEnumerable<string> ImageSources => [s_bootstrapSource, s_runnerSource, s_preloadSource, SandboxProtocol.ForBootConfig()];

    private enum BootMode
    {
        MakeSnapshot,
        Restore,
    }

    private static PyodideEngine Create(SandboxOptions options)
    {
        // V8 aborts the whole process when an isolate passes its hard heap limit. So the hard limit is
        // only a starting size that V8 may expand (HeapExpansionMultiplier), and the real cap is
        // ClearScript's heap monitor (MaxRuntimeHeapSize), which ends the script with a fatal
        // ScriptEngineException instead. The sandbox is then discarded.
        var heapLimitMiB = (int)(options.JsHeapLimitBytes / (1024 * 1024));
        var constraints = new V8RuntimeConstraints
        {
            MaxOldSpaceSize = Math.Max(32, heapLimitMiB / 2),
            HeapExpansionMultiplier = 2,
            // ArrayBuffers live outside the heap; WebAssembly memory is bounded by WasmMemoryLimit instead.
            MaxArrayBufferAllocation = (ulong)options.JsHeapLimitBytes,
            // Python allocates in wasm memory, not in the JS heap; a small young generation saves
            // ~8 MiB of resident memory per sandbox (measured: 75 -> 67 MiB) at no visible cost.
            MaxNewSpaceSize = 2,
        };

        var engine = new V8ScriptEngine(constraints, EngineFlags)
        {
            // The bridges are internal types; let script see their [ScriptMember]s (and nothing else:
            // they are [NoDefaultScriptAccess]).
            AccessContext = typeof(PyodideEngine),
            // Script's few calls to the bridges are bound by reflection: the C# runtime binder's first
            // use cost ~95 ms of a process's first start, reflection ~45 ms (measured).
            DisableDynamicBinding = true,
            MaxRuntimeHeapSize = checked((UIntPtr)(ulong)options.JsHeapLimitBytes),
            RuntimeHeapSizeSampleInterval = TimeSpan.FromMilliseconds(10),
        };
        return new PyodideEngine(engine);
    }

    /// <summary>
    /// Boots Pyodide in a created engine on <paramref name="thread"/>. Bootstrap.js makes the
    /// boot synchronous, so all of it runs inside that one call: left asynchronous, its pieces ran as
    /// V8 tasks on the .NET thread pool, hundreds of milliseconds each, and held up whatever else
    /// the process had queued there (such as another sandbox's run finishing).
    /// </summary>
    private static async Task<(PyodideEngine Engine, ScriptObject Api)> BootAsync(
        EngineThread thread, Task<PyodideEngine> creating, AssetStore assets, AssetBridge bridge, SandboxOptions options, BootMode mode, CancellationToken cancellationToken, FunctionTable? functions = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(BootTimeout);
        PyodideEngine? self = null;
        ScriptObject? booting = null;
        try
        {
            self = await creating.ConfigureAwait(false);
            using (deadline.Token.Register(self.Terminate))
            {
                var started = await thread.RunAsync(() =>
                {
                    deadline.Token.ThrowIfCancellationRequested();
                    self.Functions = functions is null ? null : new FunctionBridge(functions, options.MaxOutputBytes, SandboxMetrics.For(options.MeterFactory));
                    booting = self.InvokeBootstrap(assets, bridge, options, mode, mode == BootMode.Restore ? StartupCache.For(assets).CodeCache : null);
                    return (Task<object>)booting.GetProperty("started");
                }).ConfigureAwait(false);

                // The task completes inside ClearScript's promise callback, on a thread that holds the
                // isolate. Continuing there (and so starting or disposing other isolates from inside
                // this one's callback) aborted the process in V8 under load ("Cannot create a handle
                // without a HandleScope"): always continue on another thread.
                var api = (ScriptObject)await started.WaitAsync(deadline.Token).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                return (self, api);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
            && (deadline.IsCancellationRequested || e is ScriptEngineException))
        {
            // Pyodide reports some failures (such as a refused wasm instantiation) only to console. Read before
            // the engine is disposed: afterwards the read threw ObjectDisposedException, which hid the real failure.
            string? log = null;
            try
            {
                log = (booting?.GetProperty("log") as ScriptObject)?.InvokeAsFunction() as string;
            }
            catch (Exception logFailure) when (logFailure is ScriptEngineException or ObjectDisposedException)
            {
                // No log: the failure itself is reported below.
            }

            self?.Dispose();
            var reason = deadline.IsCancellationRequested ? $"Pyodide did not start within {BootTimeout.TotalSeconds} s" : ErrorText.Shorten(e.Message);
            throw new SandboxStartException(string.IsNullOrEmpty(log) ? reason : $"{reason}; Pyodide said: {ErrorText.Shorten(log)}", e);
        }
        catch
        {
            self?.Dispose();
            throw;
        }
        finally
        {
            bridge.Close();
        }
    }

    private ScriptObject InvokeBootstrap(AssetStore assets, AssetBridge bridge, SandboxOptions options, BootMode mode, byte[]? codeCache)
    {
        var loader = new LockedModuleLoader(assets, AssetPrefix);
        _engine.DocumentSettings.Loader = loader;
        _engine.DocumentSettings.AccessFlags = DocumentAccessFlags.None;
        _compiledModule = loader.Find(CompiledModuleName);
        if (codeCache is not null && _compiledModule is not null)
        {
            // Compiled here from V8's code cache, the module is found by Pyodide's import (same
            // identity and text) instead of being parsed and compiled again.
            using var _ = _engine.Compile(_compiledModule.Info, _compiledModule.Text, V8CacheKind.Code, codeCache, out var accepted);
            CodeCacheAccepted = accepted;
        }

        var config = _engine.Evaluate("({})") as ScriptObject ?? throw new InvalidOperationException("V8 returned no object.");
        config.SetProperty("maxOutputBytes", options.MaxOutputBytes);
        config.SetProperty("maxHostFileBytesPerIsolate", (double)(options.JsHeapLimitBytes / 4));
        config.SetProperty("allowJsInterop", options.AllowJsInterop);
        config.SetProperty("protocol", SandboxProtocol.ForBootConfig());
        if (Functions is not null)
        {
            config.SetProperty("functions", Functions.Spec);
        }
        if (mode == BootMode.MakeSnapshot)
        {
            config.SetProperty("runnerSource", s_runnerSource);
            config.SetProperty("preloadSource", s_preloadSource);
        }

        config.SetProperty("makeSnapshot", mode == BootMode.MakeSnapshot);
        config.SetProperty("restoreSnapshot", mode == BootMode.Restore);

        var boot = (ScriptObject)_engine.Evaluate(new DocumentInfo("pyodide-embedded-bootstrap.js"), s_bootstrapSource);
        return (ScriptObject)boot.InvokeAsFunction(bridge, new EntropyBridge(), config, Functions);
    }

    private void Attach(ScriptObject api)
    {
        // The first call hands the trampoline its target; it knows nothing of the calls themselves.
        _calls = (ScriptObject)_engine.Evaluate("(() => { let target; return (call, a, b) => target ? target(call, a, b) : void (target = call); })()");
        _calls.InvokeAsFunction(api.GetProperty("dispatch"));
        PyodideVersion = (string)api.GetProperty("version");
        _interruptBuffer = (ITypedArray<int>)api.GetProperty("interruptBuffer");
        // The buffer is a SharedArrayBuffer: its backing store never moves, and V8 keeps it alive while
        // the JS side holds it (Pyodide does). Writing to it from a host thread is how a browser's main
        // thread interrupts a Pyodide worker; here the host plays the main thread.
        _interruptFlag = _interruptBuffer.InvokeWithDirectAccess(static pointer => pointer);
    }

    private object? Call(HostCall call, object? a = null, object? b = null) => _calls!.InvokeAsFunction((int)call, a, b);

    /// <summary>
    /// One trivial run, on the thread that will make the real ones: the first call from a thread
    /// into an isolate and the first run of the runner's path cost milliseconds, paid here at start.
    /// </summary>
    private void WarmUp() => Call(HostCall.Run, "None");

    /// <summary>
    /// Runs code to completion and returns the JSON envelope built by Bootstrap.js; or null when
    /// <paramref name="stop"/> was set while the code was awaiting (no script was running to interrupt).
    /// </summary>
    /// <exception cref="ScriptInterruptedException">Terminated by <see cref="Terminate"/>.</exception>
    /// <exception cref="ScriptEngineException">The engine failed (heap limit, internal error).</exception>
    public string? Run(string code, WaitHandle stop)
    {
        // Host functions answer only while this run is in progress (not in a timer or finalizer that outlives it).
        Functions?.BeginRun(stop);
        try
        {
            return RunAndPoll(code, stop);
        }
        finally
        {
            Functions?.EndRun();
        }
    }

    private string? RunAndPoll(string code, WaitHandle stop)
    {
        if (Call(HostCall.Run, code) is string envelope)
        {
            return envelope;
        }

        // Top-level await: this thread is the event loop. Run due timers, sleep until the next one.
        while (true)
        {
            var polled = Call(HostCall.Poll);
            if (polled is string done)
            {
                return done;
            }

            var wait = PollDelay(polled);
            if (stop.WaitOne(wait))
            {
                Call(HostCall.Abandon);
                return null;
            }
        }
    }

    // How often an awaiting run with no timer is polled (for promises settled by other means).
    private static readonly TimeSpan IdlePollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// How long to sleep before the next poll. The value comes from the realm, which untrusted code can
    /// rewrite (a Map's iterator, Math.min): anything but a finite number from 0 to the idle interval
    /// (NaN, an infinity, a string, an object) means the idle interval.
    /// </summary>
    internal static TimeSpan PollDelay(object? polled)
    {
        var waitMs = polled switch
        {
            int i => i,
            long l => l,
            double d => d,
            _ => double.NaN,
        };
        return double.IsFinite(waitMs) && waitMs >= 0 && waitMs < IdlePollInterval.TotalMilliseconds
            ? TimeSpan.FromMilliseconds(waitMs)
            : IdlePollInterval;
    }

    /// <summary>Asks Python to raise <c>KeyboardInterrupt</c> at its next check (as SIGINT would).</summary>
    public void RequestSoftInterrupt()
    {
        if (_interruptFlag != IntPtr.Zero && Volatile.Read(ref _disposed) == 0)
        {
            unsafe
            {
                Interlocked.Exchange(ref *(int*)_interruptFlag, 2); // 2 = SIGINT
            }
        }
    }

    /// <summary>
    /// Withdraws a soft interrupt that Python did not take (the run ended first), so that it cannot
    /// stop the next run. Called only once no stop can be requested for the run that ended.
    /// </summary>
    public void ClearSoftInterrupt()
    {
        if (_interruptFlag != IntPtr.Zero && Volatile.Read(ref _disposed) == 0)
        {
            unsafe
            {
                Interlocked.Exchange(ref *(int*)_interruptFlag, 0);
            }
        }
    }

    /// <summary>Terminates whatever script runs now. Python's state may be left inconsistent.</summary>
    public void Terminate()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _engine.Interrupt();
        }
    }

    public void CancelTerminate() => _engine.CancelInterrupt();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _interruptFlag = IntPtr.Zero;
        // Release our handles into the isolate before the isolate itself, not later from a finalizer.
        foreach (var handle in new IDisposable?[] { _calls as IDisposable, _interruptBuffer as IDisposable })
        {
            handle?.Dispose();
        }

        _engine.Dispose();
        // A disposed isolate's native memory goes back to glibc's arenas, which keep it: +28 MiB over 60
        // replacements in the soak probe, flat with a trim (off this thread).
        MallocTuning.TrimAfterDispose();
    }

    /// <summary>Copies bytes into the start of a buffer of at least their length.</summary>
    /// <remarks>IArrayBuffer.WriteBytes is slow for megabytes; a plain copy into the buffer's memory is not.</remarks>
    private static void CopyInto(IArrayBuffer buffer, ReadOnlyMemory<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        buffer.InvokeWithDirectAccess(pointer =>
        {
            unsafe
            {
                bytes.Span.CopyTo(new Span<byte>((void*)pointer, bytes.Length));
            }
        });
    }

    private static string ReadResource(string name)
    {
        using var stream = typeof(PyodideEngine).Assembly.GetManifestResourceStream("PyodideEmbedded." + name)
            ?? throw new InvalidOperationException($"Missing embedded resource {name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Serves asset bytes to the bootstrap during start-up only; closed afterwards.</summary>
    [NoDefaultScriptAccess]
    internal sealed class AssetBridge(AssetStore assets, byte[] limitedWasm, MemoryImage? snapshot)
    {
        private volatile bool _closed;

        public void Close() => _closed = true;

        [ScriptMember("Size")]
        public int Size(string name) => Get(name).Length;

        // Text assets (the lock file) cross as a string: decoding UTF-8 in script is slow.
        [ScriptMember("Text")]
        public string Text(string name) => System.Text.Encoding.UTF8.GetString(Get(name));

        [ScriptMember("CopyTo")]
        public void CopyTo(string name, IArrayBuffer buffer) => Copy(Get(name), buffer);

        [ScriptMember("SnapshotSize")]
        public int SnapshotSize() => GetSnapshot().Length;

        [ScriptMember("CopySnapshotHeader")]
        public void CopySnapshotHeader(IArrayBuffer buffer)
        {
            var image = GetSnapshot();
            RequireSize(buffer, (ulong)image.Length);
            buffer.InvokeWithDirectAccess(image.CopyHeaderTo);
        }

        [ScriptMember("RestoreSnapshot")]
        public void RestoreSnapshot(IArrayBuffer memory, int memoryOffset)
        {
            var image = GetSnapshot();
            if (memoryOffset != image.MemoryOffset || memory.Size < (ulong)image.MemoryLength)
            {
                throw new ArgumentException("Not the memory this image restores into.", nameof(memory));
            }
            memory.InvokeWithDirectAccess(image.RestoreInto);
        }

        private static void Copy(byte[] bytes, IArrayBuffer buffer)
        {
            RequireSize(buffer, (ulong)bytes.Length);
            CopyInto(buffer, bytes);
        }

        private static void RequireSize(IArrayBuffer buffer, ulong size)
        {
            if (buffer.Size != size)
            {
                throw new ArgumentException("The buffer does not have the expected size.", nameof(buffer));
            }
        }

        private MemoryImage GetSnapshot() => !_closed && snapshot is not null ? snapshot
            : throw new UnauthorizedAccessException("No memory image to restore.");

        private byte[] Get(string name)
        {
            if (_closed)
            {
                throw new UnauthorizedAccessException("Assets are read only while the sandbox starts.");
            }

            // Names come from script: only exact manifest entries are served, never a path.
            return name == "pyodide.asm.wasm" ? limitedWasm
                : assets.TryGet(name) ?? throw new UnauthorizedAccessException("Not a Pyodide asset.");
        }
    }

    /// <summary>Random bytes from the host CSPRNG, for Emscripten's entropy source.</summary>
    [NoDefaultScriptAccess]
#pragma warning disable CA1822 // script calls these on an instance; static members would not be exposed
    internal sealed class EntropyBridge
    {
        private const int MaxBytes = 65536;

        [ScriptMember("Base64")]
        public string Base64(int count) =>
            Convert.ToBase64String(RandomNumberGenerator.GetBytes(Math.Clamp(count, 0, MaxBytes)));

        [ScriptMember("Fill")]
        public void Fill(IArrayBuffer buffer)
        {
            var size = (int)Math.Min(buffer.Size, MaxBytes);
            buffer.WriteBytes(RandomNumberGenerator.GetBytes(size), 0, (ulong)size, 0);
        }
    }
#pragma warning restore CA1822
}
