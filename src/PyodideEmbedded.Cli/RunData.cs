using System.CommandLine;
using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary><c>run</c>'s data flags: <c>--globals</c>, <c>--file SANDBOX=HOST</c> and <c>--read SANDBOX[=HOST]</c>.</summary>
internal sealed class RunData
{
    private readonly Option<string?> _globals = new("--globals")
    {
        Description = "A JSON object whose entries are set as Python globals before the code runs.",
    };

    private readonly Option<string[]> _files = new("--file")
    {
        Description = "SANDBOX_PATH=HOST_FILE: write a host file into the sandbox before the run (repeatable).",
    };

    private readonly Option<string[]> _reads = new("--read")
    {
        Description = "SANDBOX_PATH[=HOST_FILE]: read a file back after the run, saving it to HOST_FILE (repeatable; --json shows it in base64).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_globals);
        command.Options.Add(_files);
        command.Options.Add(_reads);
    }

    /// <summary>The inputs for the run, or a usage problem.</summary>
    public async Task<(RunInputs? Inputs, string? Problem)> ReadAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        Dictionary<string, object?>? globals = null;
        if (parse.GetValue(_globals) is { } text)
        {
            if (!ServeRequest.TryParseGlobals(text, out var parsed, out var problem))
            {
                return (null, "--globals " + problem);
            }

            globals = parsed;
        }

        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        foreach (var pair in parse.GetValue(_files) ?? [])
        {
            var (sandboxPath, hostPath) = Split(pair);
            if (hostPath is null)
            {
                return (null, $"--file {pair}: expected SANDBOX_PATH=HOST_FILE");
            }

            try
            {
                files ??= [];
                files[sandboxPath] = await File.ReadAllBytesAsync(hostPath, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, $"--file {pair}: {e.Message}");
            }
        }

        var reads = (parse.GetValue(_reads) ?? []).Select(r => Split(r).SandboxPath).ToList();
        var any = globals is not null || files is not null || reads.Count > 0;
        return (any ? new RunInputs { Globals = globals, Files = files, ReadFiles = reads.Count > 0 ? reads : null } : null, null);
    }

    /// <summary>Saves the files read back to the host files named by <c>--read</c>; reports the ones that could not be read.</summary>
    public async Task SaveAsync(ParseResult parse, SandboxResult result, TextWriter stderr, CancellationToken cancellationToken)
    {
        foreach (var (sandboxPath, hostPath) in (parse.GetValue(_reads) ?? []).Select(Split))
        {
            if (result.FileErrors.TryGetValue(sandboxPath, out var reason))
            {
                await stderr.WriteLineAsync($"pyodide-sandbox: {sandboxPath} was not read: {reason}").ConfigureAwait(false);
            }
            else if (hostPath is not null && result.Files.TryGetValue(sandboxPath, out var bytes))
            {
                await File.WriteAllBytesAsync(hostPath, bytes, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static (string SandboxPath, string? HostPath) Split(string pair)
    {
        var at = pair.IndexOf('=', StringComparison.Ordinal);
        return at < 0 ? (pair, null) : (pair[..at], pair[(at + 1)..]);
    }
}
