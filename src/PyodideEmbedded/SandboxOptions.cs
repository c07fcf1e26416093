using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace PyodideEmbedded;

/// <summary>Limits and asset location for one <see cref="PythonSandbox"/>. Immutable; safe to share.</summary>
/// <remarks>
/// Every limit is finite: there is no value that means "unlimited". <see cref="PythonSandbox.CreateAsync(SandboxOptions, CancellationToken)"/>
/// validates the options and throws <see cref="ArgumentException"/> for a value out of range.
/// </remarks>
public sealed record SandboxOptions
{
    /// <summary>The smallest accepted <see cref="MemoryLimitBytes"/>: Pyodide's own start-up needs about this much.</summary>
    public const long MinMemoryLimitBytes = 64L * 1024 * 1024;

    /// <summary>Folder with the pinned Pyodide assets and their <c>manifest.sha256</c>.</summary>
    /// <value>Default <see langword="null"/>: the <c>pyodide-dist</c> folder that the build copies beside the application.</value>
    public string? AssetsPath { get; init; }

    /// <summary>Wall-clock budget for one <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/> call.</summary>
    /// <value>Default 5 s. Finite and greater than zero, at most 24 hours.</value>
    /// <remarks>
    /// When it passes, Python gets a <c>KeyboardInterrupt</c> (the sandbox keeps its state); code that does
    /// not stop within <see cref="InterruptGracePeriod"/> is stopped hard and the sandbox is lost.
    /// Either way the result carries a <c>TimeoutError</c>.
    /// </remarks>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long Python may take to honour the soft interrupt before execution is terminated.</summary>
    /// <value>Default 30 ms. Between 1 ms and 10 s.</value>
    public TimeSpan InterruptGracePeriod { get; init; } = TimeSpan.FromMilliseconds(30);

    /// <summary>Cap on Python's memory (the WebAssembly linear memory), in bytes.</summary>
    /// <value>Default 256 MiB. At least <see cref="MinMemoryLimitBytes"/>, at most 4 GiB; rounded down to 64 KiB pages.</value>
    /// <remarks>An allocation past it raises <c>MemoryError</c> inside Python and the sandbox keeps working.</remarks>
    public long MemoryLimitBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Cap on the sandbox's JavaScript heap (the V8 isolate), in bytes.</summary>
    /// <value>Default 256 MiB. Between 64 MiB and 4 GiB.</value>
    /// <remarks>Only JavaScript objects count here (for example a huge <c>js.Array</c> built through
    /// <see cref="AllowJsInterop"/>). Passing it ends the run with a <c>MemoryError</c> and the sandbox is lost.</remarks>
    public long JsHeapLimitBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Cap on each of stdout, stderr and the returned value, in bytes (UTF-8).</summary>
    /// <value>Default 1 MiB. Between 1 KiB and 256 MiB.</value>
    /// <remarks>The excess is dropped and the result says so (<see cref="SandboxResult.StdoutTruncated"/> and friends).</remarks>
    public int MaxOutputBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest source code accepted by <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/>, in bytes (UTF-8).</summary>
    /// <value>Default 1 MiB. Between 1 KiB and 64 MiB.</value>
    public int MaxCodeBytes { get; init; } = 1024 * 1024;

    /// <summary>Cap on the bytes of files moved by one run, in each direction: written in (<see cref="RunInputs.Files"/>)
    /// and read back (<see cref="RunInputs.ReadFiles"/>); also on what one package unpacks to.</summary>
    /// <value>Default 64 MiB. Between 0 and the smaller of <see cref="MemoryLimitBytes"/> and <see cref="JsHeapLimitBytes"/>.</value>
    /// <remarks>
    /// Files live in the sandbox's in-memory file system, whose data are JavaScript <c>ArrayBuffer</c>s that count
    /// against <see cref="JsHeapLimitBytes"/> (and, once Python reads them, against <see cref="MemoryLimitBytes"/>).
    /// Files over the cap are refused unrun (<see cref="SandboxLimit.FileSize"/>), or not read back (<see cref="SandboxResult.FileErrors"/>).
    /// Past the JavaScript limit, a write fails as it would on a full disk (<c>OSError</c>, no space left), and
    /// the sandbox keeps working.
    /// </remarks>
    public long MaxFileBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Folder of pure-Python wheels that sandboxes may install, with their own <c>manifest.sha256</c>.</summary>
    /// <value>Default <see langword="null"/>: no packages beyond Pyodide's standard library.</value>
    /// <remarks>
    /// The manifest has the format of the Pyodide assets' (<c>sha256sum</c> lines: <c>HEX  file.whl</c>, plus <c>#</c>
    /// comments). Only the wheels it lists are read, each checked against its SHA-256 when first installed (an altered
    /// or linked file throws <see cref="SandboxAssetException"/>); the folder is read once per process. Nothing is ever
    /// downloaded. See <see cref="Packages"/> and <see cref="PythonSandbox.InstallPackageAsync"/>.
    /// </remarks>
    public string? PackagesPath { get; init; }

    /// <summary>Packages from <see cref="PackagesPath"/> installed in every sandbox when it starts, by name
    /// (<c>"name"</c>, or <c>"name==version"</c> when the folder holds several versions).</summary>
    /// <value>Default empty.</value>
    /// <remarks>Only pure-Python wheels (<c>py3-none-any</c>) install; dependencies are not resolved, so name them
    /// too. A name the manifest does not list makes <see cref="PythonSandbox.CreateAsync(SandboxOptions, CancellationToken)"/> throw <see cref="ArgumentException"/>.</remarks>
    public IReadOnlyList<string> Packages { get; init; } = [];

    /// <summary>Whether Python may <c>import js</c> / <c>pyodide_js</c> and reach the JavaScript realm.</summary>
    /// <value>Default <see langword="false"/>.</value>
    /// <remarks>
    /// The JavaScript realm holds nothing of the host either way; this only narrows what Python can touch.
    /// </remarks>
    public bool AllowJsInterop { get; init; }

    /// <summary>Folder where the memory image of a started Pyodide is kept between processes, so that the first
    /// sandbox of a new process is restored from it instead of booting Pyodide from scratch (seconds).</summary>
    /// <value>Default: the per-user cache folder (<c>$XDG_CACHE_HOME/pyodide-embedded</c> or <c>~/.cache/pyodide-embedded</c>
    /// on Linux, <c>~/Library/Caches/PyodideEmbedded</c> on macOS, <c>%LOCALAPPDATA%\PyodideEmbedded\Cache</c> on Windows).
    /// <see langword="null"/>: keep nothing on disk; every process boots Pyodide once.</value>
    /// <remarks>
    /// <para>Written on first use (about 15 MB per library and Pyodide version; older versions' files are deleted after
    /// the third); a folder that cannot be written (read-only, full) only costs the boot. A folder filled ahead of time
    /// (<c>pyodide-sandbox prepare --cache-dir</c>) may be read-only.</para>
    /// <para>A file there is used only if it was made for these exact assets, this library build and this V8, and
    /// matches its checksum; and on Unix only if no other user can write the folder or the file (the folder and those
    /// above it belong to this user or root and are not group- or world-writable, as OpenSSH requires of <c>~/.ssh</c>).
    /// Anything else (truncated, altered, stale, a link) is ignored and replaced. See SECURITY.md for what a user who can
    /// write the folder gains. The first sandbox of a process decides which folder the process uses.</para>
    /// </remarks>
    public string? StartupCachePath { get; init; } = Internal.CacheFolder.DefaultPath;

    /// <summary>Where sandboxes (and a <see cref="SandboxPool"/> made with these options) log, under the category
    /// <c>PyodideEmbedded</c>.</summary>
    /// <value>Default <see langword="null"/>: no logging.</value>
    /// <remarks>Events have stable ids: sandbox started (with its time), where the start-up image came from (once per
    /// process, a warning when <see cref="StartupCachePath"/> cannot be used), start and asset verification failures, a run
    /// ended by a limit, a sandbox faulted, discarded or replaced, the pool full and a call waiting. None carries the
    /// code, its output, its values or session ids above <see cref="LogLevel.Debug"/>, and none carries code or output
    /// at any level: they can hold secrets.</remarks>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Creates the <c>PyodideEmbedded</c> meter that sandboxes and pools made with these options report to.</summary>
    /// <value>Default <see langword="null"/>: one process-wide meter named <c>PyodideEmbedded</c>.</value>
    /// <remarks>Instruments: <c>pyodide.runs</c>, <c>pyodide.run.duration</c>, <c>pyodide.run.limits</c>,
    /// <c>pyodide.sandbox.starts</c>, <c>pyodide.sandbox.start.duration</c>, <c>pyodide.pool.ready</c>,
    /// <c>pyodide.pool.live</c>, <c>pyodide.pool.wait.duration</c>, <c>pyodide.host_function.calls</c>,
    /// <c>pyodide.host_function.duration</c> (see the README). With dependency injection, pass the
    /// host's <see cref="IMeterFactory"/>.</remarks>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>.NET functions that Python in these sandboxes may call, as the module <c>host</c>.</summary>
    /// <value>Default <see langword="null"/>: Python can call nothing of the host (and has no <c>host</c> module).</value>
    /// <remarks>Each sandbox copies the functions when it starts. Calls count against <see cref="Timeout"/>; their
    /// arguments and results are capped at <see cref="MaxOutputBytes"/> of JSON each. See <see cref="SandboxFunctions"/>
    /// and SECURITY.md.</remarks>
    public SandboxFunctions? Functions { get; init; }

    internal string ResolvedAssetsPath => AssetsPath ?? Path.Combine(AppContext.BaseDirectory, "pyodide-dist");

    internal void Validate()
    {
        if (AssetsPath is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(AssetsPath, nameof(AssetsPath));
        }

        RequireRange(Timeout, TimeSpan.FromTicks(1), TimeSpan.FromHours(24), nameof(Timeout));
        RequireRange(InterruptGracePeriod, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10), nameof(InterruptGracePeriod));
        RequireRange(MemoryLimitBytes, MinMemoryLimitBytes, 4L * 1024 * 1024 * 1024, nameof(MemoryLimitBytes));
        RequireRange(JsHeapLimitBytes, 64L * 1024 * 1024, 4L * 1024 * 1024 * 1024, nameof(JsHeapLimitBytes));
        RequireRange(MaxOutputBytes, 1024, 256 * 1024 * 1024, nameof(MaxOutputBytes));
        RequireRange(MaxCodeBytes, 1024, 64 * 1024 * 1024, nameof(MaxCodeBytes));
        RequireRange(MaxFileBytes, 0, Math.Min(MemoryLimitBytes, JsHeapLimitBytes), nameof(MaxFileBytes));
        if (PackagesPath is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(PackagesPath, nameof(PackagesPath));
        }

        if (StartupCachePath is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(StartupCachePath, nameof(StartupCachePath));
        }

        Functions?.Validate();
        ArgumentNullException.ThrowIfNull(Packages, nameof(Packages));
        if (Packages.Count > 0 && PackagesPath is null)
        {
            throw new ArgumentException("Packages names packages to install, but PackagesPath is not set.", nameof(Packages));
        }

        foreach (var package in Packages)
        {
            Internal.PackageStore.CheckRequest(package, nameof(Packages));
        }
    }

    private static void RequireRange<T>(T value, T min, T max, string name)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.");
        }
    }
}
