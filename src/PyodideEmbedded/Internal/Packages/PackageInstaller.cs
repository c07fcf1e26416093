namespace PyodideEmbedded.Internal;

/// <summary>
/// Installs wheels from <see cref="SandboxOptions.PackagesPath"/> into one sandbox: unpacked on the host after
/// their checks, written into site-packages. Remembers what is installed; the caller serialises calls.
/// </summary>
internal sealed class PackageInstaller(RunSupervisor supervisor, SandboxOptions options)
{
    // Installed packages: normalized name -> wheel file; and those of the started state, which a reset returns to.
    private readonly Dictionary<string, string> _installed = new(StringComparer.Ordinal);
    private Dictionary<string, string> _started = new(StringComparer.Ordinal);

    /// <summary>What is installed now is what the started state has (a reset in place returns to it).</summary>
    public void MarkStarted() => _started = new(_installed, StringComparer.Ordinal);

    /// <summary>After a reset: in place, the started packages are installed again; on a new isolate, none yet.</summary>
    public void Reset(bool inPlace)
    {
        _installed.Clear();
        if (inPlace)
        {
            foreach (var (name, file) in _started)
            {
                _installed[name] = file;
            }
        }
    }

    /// <summary>The wheels for the names, checked against the manifest and the file limit.</summary>
    /// <exception cref="ArgumentException">No such package, several versions, not pure Python, or too large.</exception>
    public static List<Wheel> GetWheels(SandboxOptions options, IReadOnlyList<string> names, string paramName)
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

    /// <exception cref="InvalidOperationException">Another version of the package is installed.</exception>
    /// <exception cref="SandboxFaultedException">The install failed half-way; the sandbox is now faulted.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task InstallAsync(Wheel wheel, CancellationToken cancellationToken)
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

        var call = await supervisor.CallAsync(_ => Write(wheel), options.Timeout, cancellationToken).ConfigureAwait(false);
        if (call.Control.Reason == StopReason.Cancelled)
        {
            throw new OperationCanceledException("The install was cancelled.", call.Failure, cancellationToken);
        }

        if (call.Value is null && call.Failure is null && call.Control.Reason == StopReason.None && !supervisor.IsFaulted)
        {
            _installed[wheel.Name.NormalizedName] = fileName;
            return;
        }

        // Half a package may be on disk now: nothing can rely on this sandbox's imports any more.
        var why = call.Value ?? (call.Failure is not null ? ErrorText.Shorten(call.Failure.Message) : "it passed the time limit");
        supervisor.Fault($"installing '{fileName}' failed: {why}");
        throw new SandboxFaultedException(supervisor.FaultReason!);
    }

    // On the engine thread: null, or why the wheel could not be written.
    private string? Write(Wheel wheel)
    {
        var engine = supervisor.Engine;
        var root = engine.SitePackages();
        if (!root.StartsWith('/'))
        {
            return "the sandbox has no site-packages folder";
        }

        foreach (var (path, bytes) in wheel.Files)
        {
            if (engine.WriteFile(root + "/" + path, bytes) is { } failure)
            {
                return $"could not write '{path}': {SandboxFiles.Describe(failure, 0, options)}";
            }
        }

        engine.RefreshImports();
        return null;
    }
}
