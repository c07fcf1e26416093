using System.CommandLine;

namespace PyodideEmbedded.Cli;

/// <summary>The limit and package flags shared by <c>serve</c> and <c>run</c>; each maps to one <see cref="SandboxOptions"/> property.</summary>
internal sealed class LimitOptions
{
    private static readonly SandboxOptions s_defaults = new();

    private readonly Option<int> _timeoutMs = new("--timeout-ms")
    {
        Description = "Time limit per run, in milliseconds.",
        DefaultValueFactory = _ => (int)s_defaults.Timeout.TotalMilliseconds,
    };

    private readonly Option<int> _memoryMb = new("--memory-mb")
    {
        Description = "Memory limit for Python, in MiB.",
        DefaultValueFactory = _ => (int)(s_defaults.MemoryLimitBytes / (1024 * 1024)),
    };

    private readonly Option<int> _jsHeapMb = new("--js-heap-mb")
    {
        Description = "JavaScript heap limit of the sandbox's V8 isolate, in MiB.",
        DefaultValueFactory = _ => (int)(s_defaults.JsHeapLimitBytes / (1024 * 1024)),
    };

    private readonly Option<int> _maxOutputBytes = new("--max-output-bytes")
    {
        Description = "Cap on each of stdout, stderr and the value, in bytes.",
        DefaultValueFactory = _ => s_defaults.MaxOutputBytes,
    };

    private readonly Option<int> _maxCodeBytes = new("--max-code-bytes")
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
    }

    /// <summary>Builds the options; <see cref="PythonSandbox.CreateAsync"/> validates them.</summary>
    public SandboxOptions Read(ParseResult parse) => new()
    {
        Timeout = TimeSpan.FromMilliseconds(parse.GetValue(_timeoutMs)),
        MemoryLimitBytes = parse.GetValue(_memoryMb) * 1024L * 1024,
        JsHeapLimitBytes = parse.GetValue(_jsHeapMb) * 1024L * 1024,
        MaxOutputBytes = parse.GetValue(_maxOutputBytes),
        MaxCodeBytes = parse.GetValue(_maxCodeBytes),
        MaxFileBytes = parse.GetValue(_maxFileBytes),
        PackagesPath = parse.GetValue(_packages),
        Packages = parse.GetValue(_install) ?? [],
        AssetsPath = parse.GetValue(_assets),
        AllowJsInterop = parse.GetValue(_allowJsInterop),
    };
}
