using System.CommandLine;

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
        Description = "SANDBOX_PATH=HOST_FILE: read a file back after the run and save it to HOST_FILE (repeatable). With --json, =HOST_FILE may be left out: the JSON holds the file in base64.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_globals);
        command.Options.Add(_files);
        command.Options.Add(_reads);
    }

    /// <summary>The inputs for the run, or a usage problem (checked before any sandbox starts).</summary>
    public async Task<(RunInputs? Inputs, string? Problem)> ReadAsync(ParseResult parse, bool asJson, CancellationToken cancellationToken)
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

        var reads = new List<string>();
        foreach (var pair in parse.GetValue(_reads) ?? [])
        {
            var (sandboxPath, hostPath) = Split(pair);
            if (CheckReadTarget(pair, hostPath, asJson) is { } problem)
            {
                return (null, problem);
            }

            reads.Add(sandboxPath);
        }

        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        foreach (var pair in parse.GetValue(_files) ?? [])
        {
            var (sandboxPath, hostPath) = Split(pair);
            if (string.IsNullOrEmpty(hostPath))
            {
                return (null, $"--file {pair}: expected SANDBOX_PATH=HOST_FILE (the host file to copy in).");
            }

            if (Directory.Exists(hostPath))
            {
                return (null, $"--file {pair}: '{hostPath}' is a folder, not a file.");
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

        var any = globals is not null || files is not null || reads.Count > 0;
        return (any ? new RunInputs { Globals = globals, Files = files, ReadFiles = reads.Count > 0 ? reads : null } : null, null);
    }

    /// <summary>
    /// Names the flag behind an <see cref="ArgumentException"/> that the library raised for the run's inputs (a refused
    /// sandbox path, a global's name or value); null when it is about something else.
    /// </summary>
    public string? Explain(ArgumentException e, ParseResult parse)
    {
        if (e.ParamName != "inputs")
        {
            return null;
        }

        var message = UsageErrors.Strip(e);
        foreach (var (flag, option) in new[] { ("--file", _files), ("--read", _reads) })
        {
            foreach (var pair in parse.GetValue(option) ?? [])
            {
                if (message.Contains($"'{Split(pair).SandboxPath}'", StringComparison.Ordinal))
                {
                    return $"{flag} {pair}: {message}";
                }
            }
        }

        return parse.GetValue(_globals) is not null && message.Contains("global", StringComparison.OrdinalIgnoreCase)
            ? $"--globals: {message}"
            : message;
    }

    /// <summary>Saves the files read back to the host files named by <c>--read</c>; reports the ones that could not be
    /// read or saved. Returns whether every file asked for was saved.</summary>
    public async Task<bool> SaveAsync(ParseResult parse, SandboxResult result, TextWriter stderr, CancellationToken cancellationToken)
    {
        var saved = true;
        foreach (var (sandboxPath, hostPath) in (parse.GetValue(_reads) ?? []).Select(Split))
        {
            if (result.FileErrors.TryGetValue(sandboxPath, out var reason))
            {
                await stderr.WriteLineAsync($"pyodide-sandbox: {sandboxPath} was not read: {reason}").ConfigureAwait(false);
            }
            else if (hostPath is not null && result.Files.TryGetValue(sandboxPath, out var bytes))
            {
                try
                {
                    await File.WriteAllBytesAsync(hostPath, bytes, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await stderr.WriteLineAsync($"pyodide-sandbox: --read {sandboxPath}={hostPath}: not saved: {e.Message}").ConfigureAwait(false);
                    saved = false;
                }
            }
        }

        return saved;
    }

    // Where a file read back goes must be known, and writable in principle, before the run.
    private static string? CheckReadTarget(string pair, string? hostPath, bool asJson)
    {
        if (hostPath is null)
        {
            return asJson ? null : $"--read {pair} needs =HOST_FILE, the file to save it to (or use --json, whose output holds the file).";
        }

        if (hostPath.Length == 0)
        {
            return $"--read {pair}: HOST_FILE after '=' is empty.";
        }

        if (Directory.Exists(hostPath))
        {
            return $"--read {pair}: '{hostPath}' is a folder; name the file to save to.";
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(hostPath));
        return folder is null || Directory.Exists(folder) ? null : $"--read {pair}: the folder '{folder}' does not exist.";
    }

    private static (string SandboxPath, string? HostPath) Split(string pair)
    {
        var at = pair.IndexOf('=', StringComparison.Ordinal);
        return at < 0 ? (pair, null) : (pair[..at], pair[(at + 1)..]);
    }
}
