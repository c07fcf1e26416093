using System.CommandLine;
using Microsoft.Extensions.Logging;
using System.Text;

namespace PyodideEmbedded.Cli;

/// <summary>
/// The <c>pyodide-sandbox</c> command line: <c>serve</c> and <c>run</c>, their flags, and what each does.
/// Usage problems (unknown or misplaced options, values out of range, a missing file, refused sandbox paths)
/// are found before any sandbox starts and exit with <see cref="ExitCodes.Usage"/>, with the message on stderr
/// and nothing on stdout.
/// </summary>
internal sealed class CliCommands
{
    private const string Prefix = UsageErrors.ProgramName + ": ";

    private static readonly LoggerFactory s_startupCacheWarning = new([new StartupCacheWarning(Console.Error)]);

    private readonly LimitOptions _limits = new();
    private readonly RunData _data = new();

    private readonly Option<int> _spares = new("--spares")
    {
        Description = "Sandboxes kept started in reserve, so the request after a killed run gets a fresh one at once (0 to 16).",
        DefaultValueFactory = _ => 1,
    };

    private readonly Argument<string> _code = new("code") { Description = CodeSource.Description };

    private readonly Option<bool> _json = new("--json") { Description = "Print the whole result as one JSON object instead." };

    public CliCommands()
    {
        var serve = new Command("serve", "Serve JSON lines on stdin/stdout: {\"code\": \"4 + 5\"} -> {\"output\": 9}; {\"shutdown\": true} ends.") { _spares };
        _limits.AddTo(serve);
        serve.SetAction(ServeAsync);

        var run = new Command("run", "Run Python once; print what it printed and the value of its last expression.") { _code, _json };
        _limits.AddTo(run);
        _data.AddTo(run);
        run.SetAction(RunAsync);

        var prepare = new Command("prepare", "Start Pyodide once and keep its started state in the cache folder, so that later runs start fast (for example while building a container image; the folder may be read-only afterwards).");
        _limits.AddStartupTo(prepare);
        prepare.SetAction(PrepareAsync);

        var mcp = new Mcp.McpCommand(this, _limits).Command;
        Root = new RootCommand("Run untrusted Python in an in-process Pyodide sandbox with time and memory limits.") { serve, run, mcp, prepare };
    }

    public RootCommand Root { get; }

    /// <summary>Parses and runs a command line; a usage problem exits 2 before anything starts.</summary>
    public async Task<int> InvokeAsync(string[] args)
    {
        var parse = Root.Parse(args);
        if (UsageErrors.Find(parse) is { } problem)
        {
            await Console.Error.WriteLineAsync(Prefix + problem).ConfigureAwait(false);
            await Console.Error.WriteLineAsync(UsageErrors.Hint(parse)).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// What <c>run</c> needs before a sandbox is involved: the code (from the argument, a file or stdin) and the
    /// inputs, or a usage problem. The limits and sandbox paths are checked next, by the pool, still before a start.
    /// </summary>
    public async Task<(string Code, RunInputs? Inputs, string? Problem)> PrepareRunAsync(ParseResult parse, TextReader stdin, CancellationToken cancellationToken)
    {
        if (_limits.Check(parse) is { } limitProblem)
        {
            return ("", null, limitProblem);
        }

        var (inputs, dataProblem) = await _data.ReadAsync(parse, parse.GetValue(_json), cancellationToken).ConfigureAwait(false);
        if (dataProblem is not null)
        {
            return ("", null, dataProblem);
        }

        var (code, codeProblem) = await CodeSource.ReadAsync(parse.GetValue(_code)!, stdin, cancellationToken).ConfigureAwait(false);
        return (code ?? "", inputs, codeProblem);
    }

    /// <summary>
    /// Makes a pool for these flags, which validates the options without starting anything; null with the message
    /// when a flag is out of range. <paramref name="minReady"/> sandboxes start in the background from its first call.
    /// </summary>
    public SandboxPool? CreatePool(ParseResult parse, int minReady, int maxSandboxes, out string? problem, bool resetInPlace = true)
    {
        try
        {
            problem = null;
            var sandbox = _limits.Read(parse) with { LoggerFactory = s_startupCacheWarning };
            return new SandboxPool(new SandboxPoolOptions { Sandbox = sandbox, MinReady = minReady, MaxSandboxes = maxSandboxes, ResetInPlace = resetInPlace });
        }
        catch (ArgumentException e)
        {
            problem = Explain(e, parse);
            return null;
        }
    }

    private async Task<int> ServeAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var spareCount = parse.GetValue(_spares);
        var problem = spareCount is < 0 or > 16 ? $"--spares must be between 0 and 16; got {spareCount}." : _limits.Check(parse);
        if (problem is not null)
        {
            await Console.Error.WriteLineAsync(Prefix + problem).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        // Before any sandbox starts: from here on only the replies reach stdout.
        await using var replies = ReplyStream.Take(Console.Error);

        // The sandbox in use plus its spares; a dead sandbox is replaced by a spare, and the pool
        // starts the next spare in the background.
        var pool = CreatePool(parse, spareCount, spareCount + 1, out problem);
        if (pool is null)
        {
            await Console.Error.WriteLineAsync(Prefix + problem).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        await using (pool)
        {
            PythonSandbox sandbox;
            try
            {
                sandbox = await pool.TakeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Failure(e, parse) is { } failure)
            {
                await Console.Error.WriteLineAsync(Prefix + failure.Message).ConfigureAwait(false);
                return failure.ExitCode;
            }

            var options = pool.Options.Sandbox;
            var server = new JsonLinesServer(pool.TakeAsync, options.Timeout, Console.Error);
            await using var stdin = Console.OpenStandardInput();
            // A request line may hold code (and globals) up to the limit, JSON-escaped (up to 6 bytes per byte),
            // files up to theirs in base64 (4 bytes per 3), plus framing.
            var maxLineBytes = (int)Math.Min(int.MaxValue - 64, (long)options.MaxCodeBytes * 6 + (options.MaxFileBytes / 3 * 4) + 65536);
            await server.RunAsync(sandbox, stdin, replies, maxLineBytes, cancellationToken).ConfigureAwait(false);
            return ExitCodes.Success;
        }
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var (code, inputs, problem) = await PrepareRunAsync(parse, Console.In, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            await Console.Error.WriteLineAsync(Prefix + problem).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        // Before the sandbox starts: from here on only the result reaches stdout.
        await using var stdout = new StreamWriter(ReplyStream.Take(Console.Error), new UTF8Encoding(false));

        // A pool of one: it checks the options when made and the inputs (sandbox paths, globals) before it
        // starts the sandbox, so a usage problem never costs a start.
        // One run: nothing to reset afterwards, so the sandbox need not record its started state.
        var pool = CreatePool(parse, minReady: 0, maxSandboxes: 1, out problem, resetInPlace: false);
        if (pool is null)
        {
            await Console.Error.WriteLineAsync(Prefix + problem).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        SandboxResult result;
        await using (pool)
        {
            try
            {
                result = await pool.RunAsync(code, inputs, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Failure(e, parse) is { } failure)
            {
                await Console.Error.WriteLineAsync(Prefix + failure.Message).ConfigureAwait(false);
                return failure.ExitCode;
            }
        }

        await RunOutput.WriteAsync(result, parse.GetValue(_json), stdout, Console.Error).ConfigureAwait(false);
        await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
        var saved = await _data.SaveAsync(parse, result, Console.Error, cancellationToken).ConfigureAwait(false);
        var exitCode = ExitCodes.For(result);
        return exitCode == ExitCodes.Success && !saved ? ExitCodes.Usage : exitCode;
    }

    private async Task<int> PrepareAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var options = _limits.ReadStartup(parse);
        if (options.StartupCachePath is null)
        {
            await Console.Error.WriteLineAsync(Prefix + "there is no default cache folder (no home folder): give --cache-dir DIR.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        string image;
        try
        {
            image = await PythonSandbox.PrepareStartupCacheAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync(Prefix + e.Message + " The folder must be writable; on Unix it must belong to you (or root) "
                + "and not be writable by group or others, nor may a folder above it be (unless sticky, like /tmp).").ConfigureAwait(false);
            return ExitCodes.StartError;
        }
        catch (Exception e) when (Failure(e, parse) is { } failure)
        {
            await Console.Error.WriteLineAsync(Prefix + failure.Message).ConfigureAwait(false);
            return failure.ExitCode;
        }

        Console.WriteLine($"Start-up cache ready: {image} ({new FileInfo(image).Length / (1024 * 1024)} MiB).");
        return ExitCodes.Success;
    }

    /// <summary>An <see cref="ArgumentException"/> from the library (a limit, a package, a sandbox path, a global) in terms of the flag behind it.</summary>
    public string Explain(ArgumentException e, ParseResult parse) => _limits.Explain(e, parse) ?? _data.Explain(e, parse) ?? UsageErrors.Strip(e);

    // Why no sandbox ran, and the exit code for it; null for exceptions that are not about the command line or the start.
    private (int ExitCode, string Message)? Failure(Exception e, ParseResult parse) => e switch
    {
        ArgumentException argument => (ExitCodes.Usage, Explain(argument, parse)),
        SandboxAssetException asset => (ExitCodes.AssetError, asset.Message.Contains(asset.FilePath, StringComparison.Ordinal) ? asset.Message : $"{asset.FilePath}: {asset.Message}"),
        SandboxStartException start => (ExitCodes.StartError, start.Message),
        _ => null,
    };
}
