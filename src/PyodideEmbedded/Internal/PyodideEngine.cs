using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;
using Microsoft.ClearScript.V8;

namespace PyodideEmbedded.Internal;

/// <summary>
/// One V8 isolate with Pyodide booted in it. Not thread-safe for runs (the owner serialises them);
/// <see cref="RequestSoftInterrupt"/> and <see cref="Terminate"/> may be called from any thread.
/// </summary>
internal sealed class PyodideEngine : IDisposable
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

    private static readonly TimeSpan MinimumIsolateAge = TimeSpan.FromSeconds(10);
    private const int RunOp = 0;
    private const int PollOp = 1;
    private const int AbandonOp = 2;
    private readonly long _createdAt = Stopwatch.GetTimestamp();

    private readonly V8ScriptEngine _engine;
    // One function for every call into the sandbox: run (0), poll (1), abandon (2). ClearScript calls
    // a function handle that came from Evaluate in ~3 µs, but one read with GetProperty in 35-60 µs
    // and ~32 KB of garbage per call (measured), so the hot path goes through this handle only.
    private ScriptObject? _dispatch;
    private ITypedArray<int>? _interruptBuffer;
    private IntPtr _interruptFlag;
    private int _disposed;

    private PyodideEngine(V8ScriptEngine engine) => _engine = engine;

    public string PyodideVersion { get; private set; } = "";

    public static async Task<PyodideEngine> StartAsync(AssetStore assets, SandboxOptions options, CancellationToken cancellationToken)
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
        };
        var engine = new V8ScriptEngine(constraints, EngineFlags)
        {
            // The bridges are internal types; let script see their [ScriptMember]s (and nothing else:
            // they are [NoDefaultScriptAccess]).
            AccessContext = typeof(PyodideEngine),
            MaxRuntimeHeapSize = checked((UIntPtr)(ulong)options.JsHeapLimitBytes),
            RuntimeHeapSizeSampleInterval = TimeSpan.FromMilliseconds(10),
        };
        var self = new PyodideEngine(engine);
        try
        {
            await self.BootAsync(assets, options, cancellationToken).ConfigureAwait(false);
            return self;
        }
        catch
        {
            self.Dispose();
            throw;
        }
    }

    private async Task BootAsync(AssetStore assets, SandboxOptions options, CancellationToken cancellationToken)
    {
        var wasm = assets.TryGet("pyodide.asm.wasm")!;
        byte[] limitedWasm;
        try
        {
            limitedWasm = WasmMemoryLimit.Apply(wasm, options.MemoryLimitBytes);
        }
        catch (InvalidDataException e)
        {
            throw new SandboxStartException($"Cannot apply the memory limit to pyodide.asm.wasm: {e.Message}", e);
        }

        _engine.DocumentSettings.Loader = new LockedModuleLoader(assets, AssetPrefix);
        _engine.DocumentSettings.AccessFlags = DocumentAccessFlags.None;

        var bridge = new AssetBridge(assets, limitedWasm);
        var config = _engine.Evaluate("({})") as ScriptObject ?? throw new InvalidOperationException("V8 returned no object.");
        config.SetProperty("maxOutputBytes", options.MaxOutputBytes);
        config.SetProperty("allowJsInterop", options.AllowJsInterop);
        config.SetProperty("runnerSource", s_runnerSource);

        var boot = (ScriptObject)_engine.Evaluate(new DocumentInfo("pyodide-embedded-bootstrap.js"), s_bootstrapSource);
        var booting = (ScriptObject)boot.InvokeAsFunction(bridge, new EntropyBridge(), config);
        var started = (Task<object>)booting.GetProperty("started");
        ScriptObject api;
        try
        {
            api = (ScriptObject)await started.WaitAsync(BootTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or ScriptEngineException)
        {
            // Pyodide reports some failures (such as a refused wasm instantiation) only to console.
            var log = ((ScriptObject)booting.GetProperty("log")).InvokeAsFunction() as string;
            var reason = e is TimeoutException ? $"Pyodide did not start within {BootTimeout.TotalSeconds} s" : ErrorText.Shorten(e.Message);
            throw new SandboxStartException(string.IsNullOrEmpty(log) ? reason : $"{reason}; Pyodide said: {ErrorText.Shorten(log)}", e);
        }
        finally
        {
            bridge.Close();
        }

        _dispatch = (ScriptObject)_engine.Evaluate(
            "(() => { let api; return (op, arg) => op === 0 ? api.run(arg) : op === 1 ? api.poll() : op === 2 ? api.abandon() : void (api = arg); })()");
        _dispatch.InvokeAsFunction(-1, api);
        PyodideVersion = (string)api.GetProperty("version");
        _interruptBuffer = (ITypedArray<int>)api.GetProperty("interruptBuffer");
        // The buffer is a SharedArrayBuffer: its backing store never moves, and V8 keeps it alive while
        // the JS side holds it (Pyodide does). Writing to it from a host thread is how a browser's main
        // thread interrupts a Pyodide worker; here the host plays the main thread.
        _interruptFlag = _interruptBuffer.InvokeWithDirectAccess(static pointer => pointer);

        // One run inside the boot: it warms up the runner, and it lets ClearScript finish the
        // callbacks of the boot promise. Disposing an engine straight after boot without it crashed
        // the process in ClearScript's host-object cache ("Handle is not initialized").
        _dispatch.InvokeAsFunction(RunOp, "None");
    }

    /// <summary>
    /// Runs code to completion and returns the JSON envelope built by Bootstrap.js; or null when
    /// <paramref name="stop"/> was set while the code was awaiting (no script was running to interrupt).
    /// </summary>
    /// <exception cref="ScriptInterruptedException">Terminated by <see cref="Terminate"/>.</exception>
    /// <exception cref="ScriptEngineException">The engine failed (heap limit, internal error).</exception>
    public string? Run(string code, WaitHandle stop)
    {
        if (_dispatch!.InvokeAsFunction(RunOp, code) is string envelope)
        {
            return envelope;
        }

        // Top-level await: this thread is the event loop. Run due timers, sleep until the next one.
        while (true)
        {
            var polled = _dispatch.InvokeAsFunction(PollOp);
            if (polled is string done)
            {
                return done;
            }

            var waitMs = Convert.ToDouble(polled, System.Globalization.CultureInfo.InvariantCulture);
            var wait = waitMs < 0 ? IdlePollInterval : TimeSpan.FromMilliseconds(Math.Min(waitMs, IdlePollInterval.TotalMilliseconds));
            if (stop.WaitOne(wait))
            {
                _dispatch.InvokeAsFunction(AbandonOp);
                return null;
            }
        }
    }

    // How often an awaiting run with no timer is polled (for promises settled by other means).
    private static readonly TimeSpan IdlePollInterval = TimeSpan.FromMilliseconds(20);

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
        foreach (var handle in new IDisposable?[] { _dispatch as IDisposable, _interruptBuffer as IDisposable })
        {
            handle?.Dispose();
        }

        // An isolate disposed within seconds of booting Pyodide can crash the process later, in
        // ClearScript 7.5.1.1's host-object cache ("Handle is not initialized"), presumably when
        // V8's background work for the 9 MB wasm module (started at boot) reports back. Such young
        // isolates are disposed once they reach MinimumIsolateAge instead.
        var age = Stopwatch.GetElapsedTime(_createdAt);
        if (age >= MinimumIsolateAge)
        {
            _engine.Dispose();
        }
        else
        {
            var engine = _engine;
            _ = Task.Delay(MinimumIsolateAge - age).ContinueWith(_ => engine.Dispose(), TaskScheduler.Default);
        }
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
    internal sealed class AssetBridge(AssetStore assets, byte[] limitedWasm)
    {
        private volatile bool _closed;

        public void Close() => _closed = true;

        [ScriptMember("Size")]
        public int Size(string name) => Get(name).Length;

        [ScriptMember("CopyTo")]
        public void CopyTo(string name, IArrayBuffer buffer)
        {
            var bytes = Get(name);
            buffer.WriteBytes(bytes, 0, (ulong)bytes.Length, 0);
        }

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
