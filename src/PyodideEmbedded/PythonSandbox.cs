using System.Diagnostics;
using Microsoft.ClearScript;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded;

/// <summary>
/// A Python interpreter (Pyodide) in its own V8 isolate, with time, memory and output limits.
/// Variables, imports and definitions persist from one <see cref="RunAsync(string, CancellationToken)"/> to the next.
/// </summary>
/// <remarks>
/// <para>Thread-safe: calls from several threads queue and run one at a time. For parallelism, create
/// more sandboxes; each has its own isolate and state and runs on its own thread.</para>
/// <para>A run that passes its time limit first gets a <c>KeyboardInterrupt</c> inside Python, which keeps
/// the sandbox usable; code that ignores it is terminated, and the sandbox becomes
/// <see cref="IsFaulted"/>. A faulted sandbox throws <see cref="SandboxFaultedException"/>: dispose it
/// and create another.</para>
/// </remarks>
public sealed class PythonSandbox : IAsyncDisposable, IDisposable
{
    // The jobs are split by concern: RunSupervisor (the engine, its thread, time limits, faults),
    // OutcomeInterpreter (what a run's result and limit are), SandboxFiles (data in and out),
    // PackageInstaller (wheels). This class is the gate in front of them: one call at a time.
    private readonly SandboxOptions _options;
    private readonly RunSupervisor _supervisor;
    private readonly PackageInstaller _packages;
    private readonly SandboxTelemetry _telemetry;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TaskCompletionSource _firstCallEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    /// <summary>Called once when the sandbox is disposed (a pool frees its slot).</summary>
    internal Action? Released { get; set; }

    /// <summary>Completes when the first run (or install) ends, or at disposal: a pool refills after it.</summary>
    internal Task FirstCallEnded => _firstCallEnded.Task;

    private PythonSandbox(SandboxOptions options, PyodideEngine engine, EngineThread thread, SandboxTelemetry telemetry)
    {
        _options = options;
        _telemetry = telemetry;
        _supervisor = new RunSupervisor(engine, thread, options.InterruptGracePeriod);
        _packages = new PackageInstaller(_supervisor, options);
    }

    /// <summary>The options this sandbox was created with.</summary>
    public SandboxOptions Options => _options;

    /// <summary>The Pyodide version running in this sandbox.</summary>
    public string PyodideVersion => _supervisor.Engine.PyodideVersion;

    /// <summary>Whether the sandbox was discarded after a hard stop and can run nothing more.</summary>
    public bool IsFaulted => _supervisor.IsFaulted;

    /// <summary>Starts a sandbox: verifies the assets (once per process and folder) and boots Pyodide.</summary>
    /// <param name="options">Limits and asset folder; <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">An option is out of range, or <see cref="SandboxOptions.Packages"/> names a
    /// package that <see cref="SandboxOptions.PackagesPath"/> does not hold (or that is not pure Python).</exception>
    /// <exception cref="SandboxAssetException">An asset or a package is missing, altered or not in its manifest.</exception>
    /// <exception cref="SandboxStartException">Pyodide failed to start, or a package failed to install.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static Task<PythonSandbox> CreateAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default) =>
        CreateAsync(options, recordForReset: true, cancellationToken);

    /// <summary>As <see cref="CreateAsync(SandboxOptions, CancellationToken)"/>; without <paramref name="recordForReset"/>
    /// the started state is not recorded (a few milliseconds saved) and every <see cref="ResetAsync"/> uses a new isolate.</summary>
    internal static async Task<PythonSandbox> CreateAsync(SandboxOptions? options, bool recordForReset, CancellationToken cancellationToken)
    {
        options ??= new SandboxOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var telemetry = SandboxTelemetry.For(options);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var sandbox = await StartAsync(options, telemetry, recordForReset, cancellationToken).ConfigureAwait(false);
            telemetry.SandboxStarted(Stopwatch.GetElapsedTime(started));
            return sandbox;
        }
        catch (Exception e)
        {
            telemetry.SandboxStartFailed(Stopwatch.GetElapsedTime(started), e);
            throw;
        }
    }

    private static async Task<PythonSandbox> StartAsync(SandboxOptions options, SandboxTelemetry telemetry, bool recordForReset, CancellationToken cancellationToken)
    {
        var (engine, thread, wheels) = await StartEngineAsync(options, telemetry, cancellationToken).ConfigureAwait(false);
        var sandbox = new PythonSandbox(options, engine, thread, telemetry) { _recordForReset = recordForReset };
        try
        {
            await sandbox.FinishStartAsync(wheels, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            sandbox.Dispose();
            throw;
        }

        return sandbox;
    }

    // A started engine on its own thread, and the packages to install in it.
    private static async Task<(PyodideEngine Engine, EngineThread Thread, List<Wheel> Wheels)> StartEngineAsync(
        SandboxOptions options, SandboxTelemetry telemetry, CancellationToken cancellationToken)
    {
        var thread = new EngineThread("PyodideEmbedded sandbox");
        var creating = PyodideEngine.CreateAsync(thread, options);
        try
        {
            var assets = AssetStore.TryGetLoaded(options.ResolvedAssetsPath)
                ?? await Task.Run(() => AssetStore.Load(options.ResolvedAssetsPath), cancellationToken).ConfigureAwait(false);
            var wheels = options.Packages.Count == 0 ? []
                : await Task.Run(() => PackageInstaller.GetWheels(options, options.Packages, nameof(options.Packages)), cancellationToken).ConfigureAwait(false);
            var engine = await PyodideEngine.StartAsync(creating, assets, options, thread, cancellationToken).ConfigureAwait(false);
            telemetry.StartupImage(StartupCache.For(assets));
            return (engine, thread, wheels);
        }
        catch (Exception e)
        {
            // Disposing twice is harmless: StartAsync disposes the engine it failed to start.
            _ = PyodideEngine.DisposeWhenCreatedAsync(creating);
            thread.Dispose();
            if (e is ScriptEngineException && !cancellationToken.IsCancellationRequested)
            {
                throw new SandboxStartException("Pyodide failed to start: " + ErrorText.Shorten(e.Message), e);
            }

            if (e is ScriptInterruptedException && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Sandbox start was cancelled.", e, cancellationToken);
            }

            throw;
        }
    }

    /// <summary>
    /// Makes sure <see cref="SandboxOptions.StartupCachePath"/> holds the started state of Pyodide for these options
    /// (reading it, or starting Pyodide once and writing it), so that later processes start their first sandbox fast.
    /// For a deploy step, such as building a container image: the folder may be read-only afterwards.
    /// </summary>
    /// <param name="options">The assets and cache folder (limits do not matter); <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The path of the memory image in the folder.</returns>
    /// <exception cref="ArgumentException"><see cref="SandboxOptions.StartupCachePath"/> is <see langword="null"/>, or an option is out of range.</exception>
    /// <exception cref="IOException">The folder cannot be used, and why (for example: writable by other users).</exception>
    /// <exception cref="InvalidOperationException">Sandboxes of this process already started with another cache folder.</exception>
    /// <exception cref="SandboxAssetException">An asset is missing or altered.</exception>
    /// <exception cref="SandboxStartException">Pyodide failed to start.</exception>
    public static async Task<string> PrepareStartupCacheAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxOptions();
        if (options.StartupCachePath is null)
        {
            throw new ArgumentException("StartupCachePath is null: there is no cache folder to prepare.", nameof(options));
        }

        await using (await CreateAsync(options, cancellationToken).ConfigureAwait(false))
        {
            // Starting one sandbox reads the cache, or makes what it lacks and writes it.
        }

        var assets = await Task.Run(() => AssetStore.Load(options.ResolvedAssetsPath), cancellationToken).ConfigureAwait(false);
        return StartupCache.For(assets).CheckOnDisk(options.StartupCachePath);
    }

    /// <summary>Runs Python code and returns its last expression's value, its output and any error.</summary>
    /// <param name="code">Python source. Top-level <c>await</c> is allowed.</param>
    /// <param name="cancellationToken">Stops the run the same way the time limit does, then throws.</param>
    /// <returns>The result; a Python exception or a passed limit is reported in <see cref="SandboxResult.Error"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The sandbox was disposed.</exception>
    /// <exception cref="SandboxFaultedException">An earlier run left the sandbox unusable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<SandboxResult> RunAsync(string code, CancellationToken cancellationToken = default) => RunAsync(code, null, cancellationToken);

    /// <summary>Runs Python code with data: sets <see cref="RunInputs.Globals"/> and writes <see cref="RunInputs.Files"/>
    /// before it, and reads <see cref="RunInputs.ReadFiles"/> back into <see cref="SandboxResult.Files"/> after it.</summary>
    /// <param name="code">Python source. Top-level <c>await</c> is allowed.</param>
    /// <param name="inputs">The data; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Stops the run the same way the time limit does, then throws.</param>
    /// <returns>The result; a Python exception or a passed limit is reported in <see cref="SandboxResult.Error"/>: code and
    /// globals over <see cref="SandboxOptions.MaxCodeBytes"/> (<see cref="SandboxLimit.CodeSize"/>) and files over
    /// <see cref="SandboxOptions.MaxFileBytes"/> (<see cref="SandboxLimit.FileSize"/>) are refused unrun; <see cref="SandboxResult.Limit"/>
    /// says which limit, if any, ended the run.</returns>
    /// <remarks>Writing and reading files counts against <see cref="SandboxOptions.Timeout"/>, except that reading
    /// back always gets at least one second, so a run that used its whole budget still returns its files.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ArgumentException">A global's name or value, or a file path, is not allowed (the message names it;
    /// see <see cref="RunInputs"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="RunInputs.Timeout"/> is not positive or is longer than
    /// <see cref="SandboxOptions.Timeout"/>.</exception>
    /// <exception cref="ObjectDisposedException">The sandbox was disposed, before or during the run.</exception>
    /// <exception cref="SandboxFaultedException">An earlier run left the sandbox unusable.</exception>
    /// <exception cref="InvalidOperationException">Called from a host function (<see cref="SandboxOptions.Functions"/>)
    /// that this sandbox's code is calling.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<SandboxResult> RunAsync(string code, RunInputs? inputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var run = PreparedRun.Create(code, inputs, _options);
        using var activity = SandboxTelemetry.StartRun("sandbox");
        try
        {
            var result = await RunAsync(run, Stopwatch.GetTimestamp(), cancellationToken).ConfigureAwait(false);
            _telemetry.RunEnded(result, activity);
            return result;
        }
        catch (Exception e)
        {
            _telemetry.RunFailed(e, activity);
            throw;
        }
    }

    /// <summary>Runs code whose inputs were already checked against this sandbox's options (a pool checks them first).
    /// The caller records the run's telemetry.</summary>
    /// <param name="run">The checked code and inputs.</param>
    /// <param name="waitStarted">When the caller began to wait for a sandbox (<see cref="Stopwatch.GetTimestamp"/>):
    /// the result's <see cref="SandboxResult.SandboxWait"/> runs from there to the start of the run.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    internal async Task<SandboxResult> RunAsync(PreparedRun run, long waitStarted, CancellationToken cancellationToken) =>
        run.Refused ?? await ExclusiveAsync(() => RunExclusiveAsync(run.Code, run.Inputs, run.Timeout, Stopwatch.GetElapsedTime(waitStarted), cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <summary>Runs work as the sandbox's only call in progress; refuses once it is disposed or faulted.</summary>
    private async Task<T> ExclusiveAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken, bool admitFaulted = false)
    {
        if (_supervisor.Engine.Functions is { IsCallingFromHere: true })
        {
            // The sandbox is running the code that called this function, and waits for it: waiting here for the gate
            // would hold both until the time limit.
            throw new InvalidOperationException("A host function cannot use the sandbox whose code called it.");
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (_supervisor.FaultReason is { } reason && !admitFaulted)
            {
                throw new SandboxFaultedException(reason);
            }

            return await work().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
            _firstCallEnded.TrySetResult();
        }
    }

    private async Task<SandboxResult> RunExclusiveAsync(string code, PreparedInputs? inputs, TimeSpan timeout, TimeSpan waited, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var call = await _supervisor.CallAsync(stop => RunOnEngine(code, inputs, stop), timeout, cancellationToken).ConfigureAwait(false);
        if (call.Control.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The run was cancelled.", call.Failure, cancellationToken);
        }

        // Disposed during the run: the caller disposed what it was running, which is not a result.
        ObjectDisposedException.ThrowIf(call.Control.Reason == StopReason.Disposed, this);
        var result = call.Value.Refused is { } refused && call.Failure is null
            ? refused with { Elapsed = clock.Elapsed }
            : OutcomeInterpreter.Interpret(call.Value.Envelope, call.Failure, call.Control, timeout, clock.Elapsed, _supervisor, _options);
        result = result with { SandboxWait = waited };
        if (inputs is { ReadFiles.Count: > 0 })
        {
            result = await SandboxFiles.ReadBackAsync(_supervisor, _options, result, inputs.ReadFiles, timeout, clock, cancellationToken).ConfigureAwait(false);
        }

        if (_supervisor.IsFaulted)
        {
            // The gate admitted this run only while the sandbox was usable: this run faulted it.
            _telemetry.SandboxFaulted(result.Limit, _supervisor.FaultReason);
        }

        return result;
    }

    private readonly record struct RunOutcome(string? Envelope, SandboxResult? Refused);

    // On the engine thread: the data in, then the code.
    private RunOutcome RunOnEngine(string code, PreparedInputs? inputs, WaitHandle stop)
    {
        if (inputs is not null)
        {
            var refused = SandboxFiles.WriteInputs(_supervisor.Engine, inputs, _options, stop, out var stopped);
            if (refused is not null || stopped)
            {
                return new RunOutcome(null, refused);
            }
        }

        return new RunOutcome(_supervisor.Engine.Run(code, stop), null);
    }

    /// <summary>Installs a package from <see cref="SandboxOptions.PackagesPath"/> into this sandbox, by name.</summary>
    /// <param name="name">The package's name (<c>my-package</c>; case, <c>-</c>, <c>_</c> and <c>.</c> are equivalent), or
    /// <c>name==version</c> when the folder holds several versions.</param>
    /// <param name="cancellationToken">Cancels the install.</param>
    /// <remarks>The wheel's files are unpacked on the host, after its checks, into the sandbox's site-packages;
    /// <c>import</c> then finds them. Installing a package that is already installed does nothing. Dependencies
    /// are not resolved: install them too, first. Nothing is downloaded.</remarks>
    /// <exception cref="ArgumentException">The manifest lists no such package, or lists several versions, or it is not
    /// pure Python, or it unpacks to more than <see cref="SandboxOptions.MaxFileBytes"/>.</exception>
    /// <exception cref="InvalidOperationException"><see cref="SandboxOptions.PackagesPath"/> is not set, or another
    /// version of the package is installed.</exception>
    /// <exception cref="SandboxAssetException">The wheel is missing, altered, a link, or holds files it may not (paths
    /// outside site-packages, native code).</exception>
    /// <exception cref="SandboxFaultedException">The sandbox is unusable, or the install failed half-way and made it so.</exception>
    /// <exception cref="ObjectDisposedException">The sandbox was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task InstallPackageAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_options.PackagesPath is null)
        {
            throw new InvalidOperationException("This sandbox has no packages folder: set SandboxOptions.PackagesPath.");
        }

        var wheel = (await Task.Run(() => PackageInstaller.GetWheels(_options, [name], nameof(name)), cancellationToken).ConfigureAwait(false))[0];
        await ExclusiveAsync(
            async () =>
            {
                await _packages.InstallAsync(wheel, cancellationToken).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
    }

    // The packages of SandboxOptions.Packages, then the state that resets return to.
    private async Task FinishStartAsync(List<Wheel> wheels, CancellationToken cancellationToken)
    {
        await InstallAtStartAsync(wheels, cancellationToken).ConfigureAwait(false);
        _packages.MarkStarted();
        var engine = _supervisor.Engine;
        var record = _recordForReset;
        await _supervisor.Thread.RunAsync(() =>
        {
            if (record)
            {
                engine.MarkPristine();
            }

            engine.ReseedRandom();
            return true;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Returns the sandbox to the state of a freshly started one, with the same options and the packages of
    /// <see cref="SandboxOptions.Packages"/>: nothing of the code that ran before remains (variables, imports, files,
    /// patched modules, random state). Also brings back a faulted sandbox.
    /// </summary>
    /// <remarks>
    /// <para>Usually done in place, in a few milliseconds: the isolate is kept, and its memory, its files and the
    /// interpreter's state are put back as they were at the start (files written since are removed; the started files
    /// are read-only). When the code reached further than that can undo (the <c>js</c> module, <c>ctypes</c>, an
    /// <c>await</c> on the event loop, host functions, stdin, <c>chmod</c>, a package installed after the start), or
    /// the sandbox faulted, the isolate is replaced by a new one instead, which takes as long as
    /// <see cref="CreateAsync(SandboxOptions, CancellationToken)"/>. Either way the result is the same; see SECURITY.md. In place needs Linux.</para>
    /// </remarks>
    /// <param name="cancellationToken">Cancels the reset; the sandbox is then faulted (its state is not known to be clean).</param>
    /// <exception cref="ObjectDisposedException">The sandbox was disposed.</exception>
    /// <exception cref="SandboxStartException">A new isolate was needed and failed to start; the sandbox is faulted.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task ResetAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            await ResetExclusiveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Whether the reset had begun or not, the caller asked for a clean sandbox and did not get one: the next
            // run must not find the last tenant's state (ResetAsync again starts a new isolate).
            _supervisor.Fault("a reset was cancelled");
            throw;
        }
    }

    private async Task ResetExclusiveAsync(CancellationToken cancellationToken)
    {
        await ExclusiveAsync(
            async () =>
            {
                if (await TryResetInPlaceAsync().ConfigureAwait(false))
                {
                    return true;
                }

                await ResetOnNewIsolateAsync(cancellationToken).ConfigureAwait(false);
                return true;
            },
            cancellationToken,
            admitFaulted: true).ConfigureAwait(false);
    }

    /// <summary>Resets in place if that can be done (a pool's fresh runs); false leaves the sandbox to be discarded.</summary>
    internal async Task<bool> TryRecycleAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return false;
        }

        try
        {
            return await ExclusiveAsync(TryResetInPlaceAsync, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxFaultedException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Resets done in place, and on a new isolate, since the sandbox started (for tests and benchmarks).</summary>
    internal (int InPlace, int NewIsolate) Resets => (Volatile.Read(ref _resetsInPlace), Volatile.Read(ref _resetsOnNewIsolate));

    private bool _recordForReset = true;
    private int _resetsInPlace;
    private int _resetsOnNewIsolate;

    // Under the gate.
    private async Task<bool> TryResetInPlaceAsync()
    {
        if (_supervisor.IsFaulted)
        {
            return false;
        }

        var started = Stopwatch.GetTimestamp();
        var engine = _supervisor.Engine;
        string? refused;
        try
        {
            refused = await _supervisor.Thread.RunAsync(engine.TryResetInPlace).ConfigureAwait(false);
        }
        catch (ScriptEngineException e)
        {
            refused = "the reset failed: " + ErrorText.Shorten(e.Message);
            _supervisor.Fault(refused);
        }

        if (refused is not null)
        {
            _telemetry.ResetInPlaceRefused(refused);
            return false;
        }

        _packages.Reset(inPlace: true);
        Interlocked.Increment(ref _resetsInPlace);
        _telemetry.SandboxReset("in_place", Stopwatch.GetElapsedTime(started));
        return true;
    }

    // Under the gate.
    private async Task ResetOnNewIsolateAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        // Until the new isolate is in place the sandbox holds the last tenant's state: nothing may run on it.
        _supervisor.Fault("the sandbox is being reset");
        var (engine, thread, wheels) = await StartEngineAsync(_options, _telemetry, cancellationToken).ConfigureAwait(false);
        _supervisor.Replace(engine, thread);
        _packages.Reset(inPlace: false);
        try
        {
            await FinishStartAsync(wheels, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _supervisor.Fault("the reset failed: " + ErrorText.Shorten(e.Message));
            throw;
        }

        Interlocked.Increment(ref _resetsOnNewIsolate);
        _telemetry.SandboxReset("new_isolate", Stopwatch.GetElapsedTime(started));
    }

    private async Task InstallAtStartAsync(List<Wheel> wheels, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var wheel in wheels)
            {
                await _packages.InstallAsync(wheel, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SandboxFaultedException or InvalidOperationException)
        {
            // CreateAsync disposes the sandbox.
            throw new SandboxStartException("A package failed to install: " + e.Message, e);
        }
    }

    /// <summary>Stops a running call (at once, as a hard time limit would), waits for it, and frees the isolate.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _supervisor.StopCurrent(StopReason.Disposed);
        _gate.Wait();
        ReleaseEngine();
    }

    /// <summary>Same as <see cref="Dispose"/>, without blocking a thread while a run stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _supervisor.StopCurrent(StopReason.Disposed);
        await _gate.WaitAsync().ConfigureAwait(false);
        ReleaseEngine();
    }

    private void ReleaseEngine()
    {
        _supervisor.Release();
        // Released, not disposed: a call already waiting for the gate then gets in, sees the sandbox
        // disposed and throws ObjectDisposedException, instead of waiting forever on a disposed semaphore.
        _gate.Release();
        _firstCallEnded.TrySetResult();
        Released?.Invoke();
    }
}
