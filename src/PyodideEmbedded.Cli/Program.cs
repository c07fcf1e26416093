using System.CommandLine;
using System.Text;
using PyodideEmbedded;
using PyodideEmbedded.Cli;

var limits = new LimitOptions();

var spares = new Option<int>("--spares")
{
    Description = "Sandboxes kept started in reserve, so the request after a killed run gets a fresh one at once.",
    DefaultValueFactory = _ => 1,
};
var serve = new Command("serve", "Serve JSON lines on stdin/stdout: {\"code\": \"4 + 5\"} -> {\"output\": 9}; {\"shutdown\": true} ends.") { spares };
limits.AddTo(serve);
serve.SetAction(async (parse, cancellationToken) =>
{
    var options = limits.Read(parse);
    var spareCount = parse.GetValue(spares);
    if (spareCount is < 0 or > 16)
    {
        await Console.Error.WriteLineAsync("pyodide-sandbox: --spares must be between 0 and 16.");
        return ExitCodes.Usage;
    }

    // Before any sandbox starts: from here on only the replies reach stdout.
    await using var replies = ReplyStream.Take(Console.Error);

    // The sandbox in use plus its spares; a dead sandbox is replaced by a spare, and the pool
    // starts the next spare in the background.
    var (pool, sandbox, failure) = await StartPoolAsync(options, spareCount, cancellationToken);
    if (pool is null)
    {
        return failure;
    }

    await using (pool)
    {
        var server = new JsonLinesServer(pool.TakeAsync, options.Timeout, Console.Error);
        await using var stdin = Console.OpenStandardInput();
        // A request line may hold code (and globals) up to the limit, JSON-escaped (up to 6 bytes per byte),
        // files up to theirs in base64 (4 bytes per 3), plus framing.
        var maxLineBytes = (int)Math.Min(int.MaxValue - 64, (long)options.MaxCodeBytes * 6 + (options.MaxFileBytes / 3 * 4) + 65536);
        await server.RunAsync(sandbox, stdin, replies, maxLineBytes, cancellationToken);
        return ExitCodes.Success;
    }
});

var codeArgument = new Argument<string>("code") { Description = "Python code, a path to a .py file, or - to read stdin." };
var json = new Option<bool>("--json") { Description = "Print the whole result as one JSON object instead." };
var data = new RunData();
var run = new Command("run", "Run Python once; print what it printed and the value of its last expression.") { codeArgument, json };
limits.AddTo(run);
data.AddTo(run);
run.SetAction(async (parse, cancellationToken) =>
{
    var source = parse.GetValue(codeArgument)!;
    var code = source == "-" ? await Console.In.ReadToEndAsync(cancellationToken)
        : source.EndsWith(".py", StringComparison.Ordinal) && File.Exists(source) ? await File.ReadAllTextAsync(source, cancellationToken)
        : source;
    var (inputs, problem) = await data.ReadAsync(parse, cancellationToken);
    if (problem is not null)
    {
        await Console.Error.WriteLineAsync($"pyodide-sandbox: {problem}");
        return ExitCodes.Usage;
    }

    // Before the sandbox starts: from here on only the result reaches stdout.
    await using var stdout = new StreamWriter(ReplyStream.Take(Console.Error), new UTF8Encoding(false));
    var (sandbox, failure) = await StartAsync(limits.Read(parse), cancellationToken);
    if (sandbox is null)
    {
        return failure;
    }

    await using (sandbox)
    {
        SandboxResult result;
        try
        {
            result = await sandbox.RunAsync(code, inputs, cancellationToken);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"pyodide-sandbox: {e.Message}");
            return ExitCodes.Usage;
        }

        await RunOutput.WriteAsync(result, parse.GetValue(json), stdout, Console.Error);
        await stdout.FlushAsync(cancellationToken);
        await data.SaveAsync(parse, result, Console.Error, cancellationToken);
        return ExitCodes.For(result);
    }
});

var root = new RootCommand("Run untrusted Python in an in-process Pyodide sandbox with time and memory limits.") { serve, run };
Console.OutputEncoding = new UTF8Encoding(false);
return await root.Parse(args).InvokeAsync();

// Starts a sandbox, or says on stderr why not and picks the exit code.
static Task<(PythonSandbox? Sandbox, int ExitCode)> StartAsync(SandboxOptions options, CancellationToken cancellationToken) =>
    StartingAsync(() => PythonSandbox.CreateAsync(options, cancellationToken));

// Starts a pool and takes its first sandbox, or says on stderr why not and picks the exit code.
static async Task<(SandboxPool? Pool, PythonSandbox? Sandbox, int ExitCode)> StartPoolAsync(SandboxOptions options, int spares, CancellationToken cancellationToken)
{
    SandboxPool? pool = null;
    var (sandbox, exitCode) = await StartingAsync(() =>
    {
        pool = new SandboxPool(new SandboxPoolOptions { Sandbox = options, MinReady = spares, MaxSandboxes = spares + 1 });
        return pool.TakeAsync(cancellationToken);
    });
    if (sandbox is null && pool is not null)
    {
        await pool.DisposeAsync();
        pool = null;
    }

    return (pool, sandbox, exitCode);
}

static async Task<(PythonSandbox? Sandbox, int ExitCode)> StartingAsync(Func<Task<PythonSandbox>> start)
{
    try
    {
        return (await start(), ExitCodes.Success);
    }
    catch (ArgumentException e)
    {
        await Console.Error.WriteLineAsync($"pyodide-sandbox: {e.Message}");
        return (null, ExitCodes.Usage);
    }
    catch (SandboxAssetException e)
    {
        await Console.Error.WriteLineAsync($"pyodide-sandbox: {e.Message}");
        return (null, ExitCodes.AssetError);
    }
    catch (SandboxStartException e)
    {
        await Console.Error.WriteLineAsync($"pyodide-sandbox: {e.Message}");
        return (null, ExitCodes.StartError);
    }
}
