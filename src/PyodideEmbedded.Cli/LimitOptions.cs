using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;

namespace PyodideEmbedded.Cli;

/// <summary>The limit and package flags shared by <c>serve</c> and <c>run</c>; each maps to one <see cref="SandboxOptions"/> property.</summary>
/// <remarks>
/// The ranges are the library's: <see cref="SandboxOptions"/> checks the values when the pool is made (before any
/// sandbox starts), and <see cref="Explain"/> turns its <see cref="ArgumentOutOfRangeException"/> back into the flag
/// and the flag's unit. Values are read as <see langword="long"/> and saturated on the way to bytes or ticks, so a
/// huge value is still reported with the range rather than as a number the parser could not read.
/// </remarks>
internal sealed partial class LimitOptions
{
    private const long MiB = 1024 * 1024;

    private static readonly SandboxOptions s_defaults = new();

    private readonly Option<long> _timeoutMs = new("--timeout-ms")
    {
        Description = "Time limit per run, in milliseconds.",
        DefaultValueFactory = _ => (long)s_defaults.Timeout.TotalMilliseconds,
    };

    private readonly Option<long> _memoryMb = new("--memory-mb")
    {
        Description = "Memory limit for Python, in MiB.",
        DefaultValueFactory = _ => s_defaults.MemoryLimitBytes / MiB,
    };

    private readonly Option<long> _jsHeapMb = new("--js-heap-mb")
    {
        Description = "JavaScript heap limit of the sandbox's V8 isolate, in MiB.",
        DefaultValueFactory = _ => s_defaults.JsHeapLimitBytes / MiB,
    };

    private readonly Option<long> _maxOutputBytes = new("--max-output-bytes")
    {
        Description = "Cap on each of stdout, stderr and the value, in bytes.",
        DefaultValueFactory = _ => s_defaults.MaxOutputBytes,
    };

    private readonly Option<long> _maxCodeBytes = new("--max-code-bytes")
    {
        Description = "Largest code accepted, in bytes.",
        DefaultValueFactory = _ => s_defaults.MaxCodeBytes,
    };

    private readonly Option<long> _maxFileBytes = new("--max-file-bytes")
    {
        Description = "Cap on the bytes of files written into a run, and on those read back, in bytes.",
        DefaultValueFactory = _ => s_defaults.MaxFileBytes,
    };

    private readonly Option<string?> _packages = new("--packages")
    {
        Description = "Folder of pure-Python wheels with their manifest.sha256, for --install.",
    };

    private readonly Option<string[]> _install = new("--install")
    {
        Description = "Package from --packages to install in every sandbox (repeatable; name or name==version).",
    };

    private readonly Option<string?> _assets = new("--assets")
    {
        Description = "Folder with the pinned Pyodide assets (default: pyodide-dist beside the program).",
    };

    private readonly Option<bool> _allowJsInterop = new("--allow-js-interop")
    {
        Description = "Let Python import js / pyodide_js.",
    };

    private readonly Option<string?> _cacheDir = new("--cache-dir")
    {
        Description = $"Folder that keeps Pyodide's started state between runs, for a fast start (default: {s_defaults.StartupCachePath ?? "none: no home folder"}).",
    };

    private readonly Option<bool> _noCache = new("--no-cache")
    {
        Description = "Keep nothing on disk: boot Pyodide from scratch (seconds) in this process.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_timeoutMs);
        command.Options.Add(_memoryMb);
        command.Options.Add(_jsHeapMb);
        command.Options.Add(_maxOutputBytes);
        command.Options.Add(_maxCodeBytes);
        command.Options.Add(_maxFileBytes);
        command.Options.Add(_packages);
        command.Options.Add(_install);
        command.Options.Add(_assets);
        command.Options.Add(_allowJsInterop);
        command.Options.Add(_cacheDir);
        command.Options.Add(_noCache);
    }

    /// <summary>The <c>--assets</c> and cache flags alone, for <c>prepare</c>.</summary>
    public void AddStartupTo(Command command)
    {
        command.Options.Add(_assets);
        command.Options.Add(_cacheDir);
    }

    /// <summary>Builds the options; a <see cref="SandboxPool"/> validates them (see <see cref="Explain"/>).</summary>
    public SandboxOptions Read(ParseResult parse) => new()
    {
        Timeout = TimeSpan.FromTicks(Scale(parse.GetValue(_timeoutMs), TimeSpan.TicksPerMillisecond)),
        MemoryLimitBytes = Scale(parse.GetValue(_memoryMb), MiB),
        JsHeapLimitBytes = Scale(parse.GetValue(_jsHeapMb), MiB),
        MaxOutputBytes = (int)Math.Clamp(parse.GetValue(_maxOutputBytes), int.MinValue, int.MaxValue),
        MaxCodeBytes = (int)Math.Clamp(parse.GetValue(_maxCodeBytes), int.MinValue, int.MaxValue),
        MaxFileBytes = parse.GetValue(_maxFileBytes),
        PackagesPath = parse.GetValue(_packages),
        Packages = parse.GetValue(_install) ?? [],
        AssetsPath = parse.GetValue(_assets),
        AllowJsInterop = parse.GetValue(_allowJsInterop),
        StartupCachePath = parse.GetValue(_noCache) ? null : parse.GetValue(_cacheDir) ?? s_defaults.StartupCachePath,
    };

    /// <summary>The options <c>prepare</c> reads: the assets and the cache folder; the limits do not shape what is kept.</summary>
    public SandboxOptions ReadStartup(ParseResult parse) => new()
    {
        AssetsPath = parse.GetValue(_assets),
        StartupCachePath = parse.GetValue(_cacheDir) ?? s_defaults.StartupCachePath,
    };

    /// <summary>A problem the flags show by themselves, before any option is validated; else null.</summary>
    public string? Check(ParseResult parse) =>
        parse.GetValue(_install) is { Length: > 0 } install && parse.GetValue(_packages) is null
            ? $"--install {install[0]} needs --packages DIR, the folder of wheels to install from."
            : parse.GetValue(_noCache) && parse.GetValue(_cacheDir) is not null
            ? "--cache-dir and --no-cache contradict each other: give one."
            : null;

    /// <summary>
    /// What an <see cref="ArgumentException"/> about a <see cref="SandboxOptions"/> property means in this CLI's flags
    /// and units (for example "--memory-mb must be between 64 and 4096 MiB; got -5."); null when it is about something else.
    /// </summary>
    public string? Explain(ArgumentException e, ParseResult parse)
    {
        foreach (var limit in Limits().Where(l => l.Property == e.ParamName))
        {
            var value = parse.GetValue(limit.Option);
            if (e is ArgumentOutOfRangeException && RangePattern().Match(UsageErrors.Strip(e)) is { Success: true } range
                && Raw(range.Groups["min"].Value) is { } min && Raw(range.Groups["max"].Value) is { } max)
            {
                var low = min <= 0 ? min / limit.Scale : ((min - 1) / limit.Scale) + 1; // rounded up: the least value accepted
                var high = max / limit.Scale;
                var note = limit.Property == nameof(SandboxOptions.MaxFileBytes) ? " (at most the smaller of --memory-mb and --js-heap-mb)" : "";
                return $"{limit.Option.Name} must be between {low} and {high} {limit.Unit}{note}; got {value}.";
            }

            return $"{limit.Option.Name} {value}: {InFlags(UsageErrors.Strip(e))}";
        }

        return e.ParamName switch
        {
            nameof(SandboxOptions.AssetsPath) => $"{_assets.Name}: {InFlags(UsageErrors.Strip(e))}",
            nameof(SandboxOptions.PackagesPath) => $"{_packages.Name}: {InFlags(UsageErrors.Strip(e))}",
            nameof(SandboxOptions.Packages) => $"{_install.Name}: {InFlags(UsageErrors.Strip(e))}",
            nameof(SandboxOptions.StartupCachePath) => $"{_cacheDir.Name}: {InFlags(UsageErrors.Strip(e))}",
            _ => null,
        };
    }

    // Each numeric flag, the property it sets, and how many of the property's units (bytes, ticks) make one of its own.
    private IEnumerable<(string Property, Option<long> Option, long Scale, string Unit)> Limits() =>
    [
        (nameof(SandboxOptions.Timeout), _timeoutMs, TimeSpan.TicksPerMillisecond, "ms"),
        (nameof(SandboxOptions.MemoryLimitBytes), _memoryMb, MiB, "MiB"),
        (nameof(SandboxOptions.JsHeapLimitBytes), _jsHeapMb, MiB, "MiB"),
        (nameof(SandboxOptions.MaxOutputBytes), _maxOutputBytes, 1, "bytes"),
        (nameof(SandboxOptions.MaxCodeBytes), _maxCodeBytes, 1, "bytes"),
        (nameof(SandboxOptions.MaxFileBytes), _maxFileBytes, 1, "bytes"),
    ];

    // Property names that a library message may mention, as the flags that set them (only where the units agree).
    private string InFlags(string message) => PropertyPattern().Replace(message, match => match.Value switch
    {
        nameof(SandboxOptions.MaxOutputBytes) => _maxOutputBytes.Name,
        nameof(SandboxOptions.MaxCodeBytes) => _maxCodeBytes.Name,
        nameof(SandboxOptions.MaxFileBytes) => _maxFileBytes.Name,
        nameof(SandboxOptions.PackagesPath) => _packages.Name,
        nameof(SandboxOptions.AssetsPath) => _assets.Name,
        nameof(SandboxOptions.StartupCachePath) => _cacheDir.Name,
        _ => match.Value,
    });

    // A bound in the library's message: a number of bytes, or a TimeSpan (as ticks).
    private static long? Raw(string text) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number
        : TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) ? span.Ticks
        : null;

    // value * factor, saturated: out of range either way, and reported with the value as typed.
    private static long Scale(long value, long factor) =>
        value > long.MaxValue / factor ? long.MaxValue : value < long.MinValue / factor ? long.MinValue : value * factor;

    [GeneratedRegex(@"must be between (?<min>\S+) and (?<max>\S+?)\.?$")]
    private static partial Regex RangePattern();

    [GeneratedRegex(@"\b(MaxOutputBytes|MaxCodeBytes|MaxFileBytes|PackagesPath|AssetsPath|StartupCachePath)\b")]
    private static partial Regex PropertyPattern();
}
