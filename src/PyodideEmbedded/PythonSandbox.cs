using System.Diagnostics;
using Microsoft.ClearScript;
using PyodideEmbedded.Internal;
using PyodideEmbedded.Internal.Protocol;

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
    private readonly SandboxOptions _options;
    private readonly PyodideEngine _engine;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly EngineThread _thread;
    private RunControl? _current;
    private Task? _abandonedRun;
    private string? _faultReason;
    private int _disposed;
    // Installed packages (normalized name -> wheel file); touched only while holding _gate.
    private readonly Dictionary<string, string> _installed = new(StringComparer.Ordinal);

    private readonly TaskCompletionSource _firstCallEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called once when the sandbox is disposed (a pool frees its slot).</summary>
    internal Action? Released { get; set; }

    /// <summary>Completes when the first run (or install) ends, or at disposal: a pool refills after it.</summary>
    internal Task FirstCallEnded => _firstCallEnded.Task;

    private PythonSandbox(SandboxOptions options, PyodideEngine engine, EngineThread thread)
    {
        _options = options;
        _engine = engine;
        _thread = thread;
    }

    /// <summary>The options this sandbox was created with.</summary>
    public SandboxOptions Options => _options;

    /// <summary>The Pyodide version running in this sandbox.</summary>
    public string PyodideVersion => _engine.PyodideVersion;

    /// <summary>Whether the sandbox was discarded after a hard stop and can run nothing more.</summary>
    public bool IsFaulted => Volatile.Read(ref _faultReason) is not null;

    /// <summary>Starts a sandbox: verifies the assets (once per process and folder) and boots Pyodide.</summary>
    /// <param name="options">Limits and asset folder; <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">An option is out of range, or <see cref="SandboxOptions.Packages"/> names a
    /// package that <see cref="SandboxOptions.PackagesPath"/> does not hold (or that is not pure Python).</exception>
    /// <exception cref="SandboxAssetException">An asset or a package is missing, altered or not in its manifest.</exception>
    /// <exception cref="SandboxStartException">Pyodide failed to start, or a package failed to install.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<PythonSandbox> CreateAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var assets = await Task.Run(() => AssetStore.Load(options.ResolvedAssetsPath), cancellationToken).ConfigureAwait(false);
        var wheels = options.Packages.Count == 0 ? []
            : await Task.Run(() => GetWheels(options, options.Packages, nameof(options.Packages)), cancellationToken).ConfigureAwait(false);
        var thread = new EngineThread("PyodideEmbedded sandbox");
        try
        {
            var engine = await PyodideEngine.StartAsync(assets, options, thread, cancellationToken).ConfigureAwait(false);
            var sandbox = new PythonSandbox(options, engine, thread);
            try
            {
                await sandbox.InstallAtStartAsync(wheels, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                sandbox.Dispose();
                throw;
            }

            return sandbox;
        }
        catch (Exception e)
        {
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
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<SandboxResult> RunAsync(string code, RunInputs? inputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return await RunAsync(PreparedRun.Create(code, inputs, _options), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs code whose inputs were already checked against this sandbox's options (a pool checks them first).</summary>
    internal async Task<SandboxResult> RunAsync(PreparedRun run, CancellationToken cancellationToken) =>
        run.Refused ?? await ExclusiveAsync(() => RunExclusiveAsync(run.Code, run.Inputs, run.Timeout, cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <summary>Runs work as the sandbox's only call in progress; refuses once it is disposed or faulted.</summary>
    private async Task<T> ExclusiveAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (_faultReason is { } reason)
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

    private async Task<SandboxResult> RunExclusiveAsync(string code, PreparedInputs? inputs, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (outcome, failure, control) = await OnEngineAsync(stop => RunOnEngine(code, inputs, stop), timeout, cancellationToken).ConfigureAwait(false);
        var result = outcome.Refused is { } refused && failure is null
            ? refused with { Elapsed = clock.Elapsed }
            : Interpret(outcome.Envelope, failure, control, timeout, clock.Elapsed);
        if (control.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The run was cancelled.", failure, cancellationToken);
        }

        // Disposed during the run: the caller disposed what it was running, which is not a result.
        ObjectDisposedException.ThrowIf(control.Reason == StopReason.Disposed, this);
        if (inputs is { ReadFiles.Count: > 0 })
        {
            result = await ReadBackAsync(result, inputs.ReadFiles, timeout, clock, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    private readonly record struct RunOutcome(string? Envelope, SandboxResult? Refused);

    private RunOutcome RunOnEngine(string code, PreparedInputs? inputs, WaitHandle stop)
    {
        if (inputs is not null)
        {
            foreach (var (path, bytes) in inputs.Files)
            {
                if (_engine.WriteFile(path, bytes) is { } failure)
                {
                    return new RunOutcome(null, new SandboxResult
                    {
                        Error = PythonError.Of("OSError", $"could not write '{path}' into the sandbox: {DescribeFileError(failure, 0)}"),
                        Limit = failure.Error == FileError.NoSpace ? SandboxLimit.JsHeap : SandboxLimit.None,
                    });
                }
            }

            if (stop.WaitOne(0))
            {
                return default; // stopped while writing: reported as the time limit, the code never ran
            }

            if (inputs.GlobalsJson is { } json)
            {
                _engine.StageGlobals(json); // applied by the run that follows at once
            }
        }

        return new RunOutcome(_engine.Run(code, stop), null);
    }

    // Even a run that used its whole time budget gets this long to have its files read back.
    private static readonly TimeSpan MinReadBackTime = TimeSpan.FromSeconds(1);

    private async Task<SandboxResult> ReadBackAsync(SandboxResult result, IReadOnlyList<string> paths, TimeSpan timeout, Stopwatch clock, CancellationToken cancellationToken)
    {
        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        Dictionary<string, string>? errors = null;
        var unreadReason = "the sandbox was lost before the file could be read";
        if (!IsFaulted)
        {
            var budget = timeout - clock.Elapsed;
            var (read, failure, control) = await OnEngineAsync(_ => ReadFiles(paths), budget > MinReadBackTime ? budget : MinReadBackTime, cancellationToken).ConfigureAwait(false);
            if (control.Reason == StopReason.Cancelled)
            {
                throw new OperationCanceledException("The run was cancelled.", failure, cancellationToken);
            }

            (files, errors) = read;
            if (failure is ScriptEngineException { IsFatal: true })
            {
                Fault(HeapLimitMessage);
            }

            unreadReason = control.Reason == StopReason.None ? "reading the file failed" : "reading the files back took too long";
        }

        files ??= [];
        errors ??= [];
        foreach (var path in paths)
        {
            if (!files.ContainsKey(path) && !errors.ContainsKey(path))
            {
                errors[path] = unreadReason;
            }
        }

        return result with
        {
            Files = files,
            FileErrors = errors,
            SandboxLost = result.SandboxLost || IsFaulted,
            Elapsed = clock.Elapsed,
        };
    }

    private (Dictionary<string, ReadOnlyMemory<byte>> Files, Dictionary<string, string> Errors) ReadFiles(IReadOnlyList<string> paths)
    {
        var files = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var room = _options.MaxFileBytes;
        foreach (var path in paths)
        {
            var (bytes, failure) = _engine.ReadFile(path, room);
            if (bytes is not null)
            {
                files[path] = bytes;
                room -= bytes.Length;
            }
            else
            {
                errors[path] = DescribeFileError(failure ?? new FileFailure(FileError.Io), room);
            }
        }

        return (files, errors);
    }

    // The failure comes from Bootstrap.js (or from code that replaced it): the words are the host's own.
    private string DescribeFileError(FileFailure failure, long room) => failure.Error switch
    {
        FileError.NotFound => "no such file",
        FileError.IsFolder => "it is a folder",
        FileError.NotFolder => "a part of the path is not a folder",
        FileError.NotRegularFile => "it is not a regular file",
        FileError.LinkOnPath => "a symbolic link is on the path (links are not followed)",
        FileError.MountPointOnPath => "a mount point is on the path",
        FileError.AccessDenied => "permission denied",
        FileError.NoSpace => "no space left: the sandbox's files are JavaScript ArrayBuffers, which its JavaScript heap limit caps",
        FileError.TooLarge => $"the file is {failure.Size} bytes, more than the {room} bytes left of the limit of {_options.MaxFileBytes} bytes",
        _ => "the file could not be accessed",
    };

    /// <summary>
    /// Runs work on the engine thread under the time limit (soft interrupt, then termination, then
    /// abandonment), stopped too by <paramref name="cancellationToken"/>. Returns what it returned, or the
    /// exception it threw, and how it was stopped; faults the sandbox when the engine had to be terminated.
    /// </summary>
    private async Task<(T? Value, Exception? Failure, RunControl Control)> OnEngineAsync<T>(Func<WaitHandle, T> work, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var control = new RunControl(_engine, timeout, _options.InterruptGracePeriod);
        Volatile.Write(ref _current, control);
        var execution = _thread.RunAsync(() => work(control.StopSignal));
        T? value = default;
        Exception? failure = null;
        using (cancellationToken.Register(static c => ((RunControl)c!).Stop(StopReason.Cancelled), control))
        {
            await Task.WhenAny(execution, control.Abandoned).ConfigureAwait(false);
        }

        if (!execution.IsCompleted)
        {
            // V8 ignored termination (stuck in one huge native operation). Leave the engine to its
            // thread, which disposes it when it returns, and answer the caller now.
            Volatile.Write(ref _abandonedRun, execution);
            Fault("a run did not stop when terminated");
        }
        else if (execution.IsFaulted)
        {
            failure = execution.Exception!.InnerException;
        }
        else
        {
            value = execution.Result;
        }

        control.Dispose(); // from here on no interrupt can reach the engine
        Volatile.Write(ref _current, null);
        if (control.Terminated)
        {
            // A terminated run can leave CPython half-way through anything (a held GIL, a leaked
            // recursion counter), so the interpreter is never trusted again.
            _engine.CancelTerminate();
            Fault(control.Reason == StopReason.Cancelled ? "a cancelled run was terminated" : "a run was terminated at its time limit");
        }

        return (value, failure, control);
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

        var wheel = (await Task.Run(() => GetWheels(_options, [name], nameof(name)), cancellationToken).ConfigureAwait(false))[0];
        await ExclusiveAsync(
            async () =>
            {
                await InstallExclusiveAsync(wheel, cancellationToken).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
    }

    private static List<Wheel> GetWheels(SandboxOptions options, IReadOnlyList<string> names, string paramName)
    {
        var store = PackageStore.Load(options.PackagesPath!);
        var wheels = new List<Wheel>();
        foreach (var name in names)
        {
            var wheel = store.Get(name, paramName);
            if (wheel.TotalBytes > options.MaxFileBytes)
            {
                throw new ArgumentException($"'{wheel.Name.Entry.FileName}' unpacks to {wheel.TotalBytes} bytes, more than MaxFileBytes ({options.MaxFileBytes}).", paramName);
            }

            wheels.Add(wheel);
        }

        return wheels;
    }

    private async Task InstallAtStartAsync(List<Wheel> wheels, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var wheel in wheels)
            {
                await InstallExclusiveAsync(wheel, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SandboxFaultedException or InvalidOperationException)
        {
            // CreateAsync disposes the sandbox.
            throw new SandboxStartException("A package failed to install: " + e.Message, e);
        }
    }

    private async Task InstallExclusiveAsync(Wheel wheel, CancellationToken cancellationToken)
    {
        var fileName = wheel.Name.Entry.FileName;
        if (_installed.TryGetValue(wheel.Name.NormalizedName, out var installed))
        {
            if (installed == fileName)
            {
                return;
            }

            throw new InvalidOperationException($"'{installed}' is installed in this sandbox; '{fileName}' cannot replace it.");
        }

        var (error, failure, control) = await OnEngineAsync(_ => InstallOnEngine(wheel), _options.Timeout, cancellationToken).ConfigureAwait(false);
        if (control.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The install was cancelled.", failure, cancellationToken);
        }

        if (error is null && failure is null && control.Reason == StopReason.None && !IsFaulted)
        {
            _installed[wheel.Name.NormalizedName] = fileName;
            return;
        }

        // Half a package may be on disk now: nothing can rely on this sandbox's imports any more.
        var why = error ?? (failure is not null ? ErrorText.Shorten(failure.Message) : "it passed the time limit");
        Fault($"installing '{fileName}' failed: {why}");
        throw new SandboxFaultedException(_faultReason!);
    }

    private string? InstallOnEngine(Wheel wheel)
    {
        var root = _engine.SitePackages();
        if (!root.StartsWith('/'))
        {
            return "the sandbox has no site-packages folder";
        }

        foreach (var (path, bytes) in wheel.Files)
        {
            if (_engine.WriteFile(root + "/" + path, bytes) is { } failure)
            {
                return $"could not write '{path}': {DescribeFileError(failure, 0)}";
            }
        }

        _engine.RefreshImports();
        return null;
    }

    private SandboxResult Interpret(string? envelope, Exception? failure, RunControl control, TimeSpan timeout, TimeSpan elapsed)
    {
        if (envelope is not null)
        {
            // The envelope is built inside the sandbox, where hostile code can rewrite anything
            // (JSON.stringify, the runner's own globals): parse it defensively and apply the caps here.
            if (ResultEnvelope.TryParse(envelope, _options.MaxOutputBytes) is not { } parsed)
            {
                Fault("the sandbox returned a malformed result");
                return new SandboxResult
                {
                    Error = PythonError.Of("SystemError", "the sandbox returned a malformed result and was discarded"),
                    Limit = SandboxLimit.EngineFailure,
                    SandboxLost = true,
                    Elapsed = elapsed,
                };
            }

            if (parsed.Crashed)
            {
                Fault("the interpreter crashed");
            }

            var result = parsed.Result with { Elapsed = elapsed, SandboxLost = IsFaulted };
            if (parsed.Crashed)
            {
                return result with { Limit = SandboxLimit.EngineFailure };
            }

            // Our soft interrupt (the time limit) reached Python, and the run ended in an exception: the
            // limit ended it, whatever exception the code let out.
            if (control.Reason == StopReason.Timeout && parsed.Interrupted && result.Error is { } stopped)
            {
                return result with { Error = TimeoutError(timeout, stopped.Traceback), Limit = SandboxLimit.Time };
            }

            // A MemoryError while the memory limit refused memory: the limit, not the code, raised it.
            if (parsed.MemoryRefused && result.Error?.TypeName == "MemoryError")
            {
                return result with { Limit = SandboxLimit.Memory };
            }

            return result;
        }

        if (control.Terminated || (failure is null && control.Reason != StopReason.None))
        {
            // Without termination this was a run stopped while awaiting: no Python frame was
            // running, so the interpreter is intact.
            return new SandboxResult { Error = TimeoutError(timeout, null), Limit = SandboxLimit.Time, SandboxLost = IsFaulted, Elapsed = elapsed };
        }

        // The engine itself failed (the JavaScript heap limit, or script that broke the runtime): nothing
        // in it can be trusted. ClearScript's heap monitor ends the script with a fatal error.
        var heap = failure is ScriptEngineException { IsFatal: true };
        var message = heap ? HeapLimitMessage
            : failure is ScriptEngineException ? "the sandbox's engine failed: " + ErrorText.Shorten(failure.Message)
            : "the sandbox's engine failed"; // a host-side exception: its .NET text is not for the sandbox's user
        Fault(message);
        return new SandboxResult
        {
            Error = PythonError.Of(heap ? "MemoryError" : "SystemError", message),
            Limit = heap ? SandboxLimit.JsHeap : SandboxLimit.EngineFailure,
            SandboxLost = true,
            Elapsed = elapsed,
        };
    }

    private static PythonError TimeoutError(TimeSpan timeout, string? traceback)
    {
        var message = $"execution exceeded the time limit of {timeout.TotalMilliseconds:0.###} ms";
        var error = PythonError.Of("TimeoutError", message);
        return traceback is null ? error : error with { Traceback = traceback.TrimEnd() + "\n\n" + error.Summary + "\n" };
    }

    private string HeapLimitMessage => $"the sandbox passed its JavaScript heap limit of {_options.JsHeapLimitBytes} bytes";

    private void Fault(string reason) => Interlocked.CompareExchange(ref _faultReason, reason, null);

    /// <summary>Stops a running call (at once, as a hard time limit would), waits for it, and frees the isolate.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Read(ref _current)?.Stop(StopReason.Disposed);
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

        Volatile.Read(ref _current)?.Stop(StopReason.Disposed);
        await _gate.WaitAsync().ConfigureAwait(false);
        ReleaseEngine();
    }

    private void ReleaseEngine()
    {
        _thread.Dispose();
        if (Volatile.Read(ref _abandonedRun) is { IsCompleted: false } stuck)
        {
            // Disposing an isolate that is still executing would block; do it when the run ends.
            stuck.ContinueWith(_ => _engine.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        else
        {
            _engine.Dispose();
        }

        _gate.Dispose();
        _firstCallEnded.TrySetResult();
        Released?.Invoke();
    }
}
