using System.Collections.Concurrent;
using System.Text.Json;
using ModelContextProtocol.Server;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// One sandbox per MCP session, from the server's <see cref="ISandboxRunner"/> (a local <see cref="SandboxPool"/>, or a
/// cluster with <c>--cluster</c>): runs the tool's code in it, and finds the
/// files the code wrote under <c>/out</c> since the session's last call. Everything here is the sandbox's in-memory
/// file system; no path a client sends is ever a host path.
/// </summary>
/// <param name="runner">Where the sandboxes come from.</param>
/// <param name="maxWaitForSandbox">How long a call waits for a free place before it is refused.</param>
/// <param name="sessionWithoutId">The sandbox session of an MCP session that has no id (stdio's one session); null over
/// HTTP, where a request without a session gets a fresh sandbox that nothing else ever sees.</param>
internal sealed class McpPythonSessions(ISandboxRunner runner, TimeSpan maxWaitForSandbox, string? sessionWithoutId)
{
    /// <summary>The sandbox session of the one MCP session of a stdio server.</summary>
    public const string StdioSession = "stdio";

    /// <summary>Most files one call hands back (the first by name); the others come back with the next calls.</summary>
    public const int MaxFilesPerCall = 20;

    // Lists regular files under /out (links are not followed) with size and mtime. A comprehension: no name of its
    // own enters the session's globals. Hostile code can make it lie, but only about its own session.
    private const string ListOutFiles =
        "[[p, s.st_size, s.st_mtime_ns] for r, _d, fs in __import__('os').walk('/out') for p in [r + '/' + f for f in fs] "
        + "for s in [__import__('os').lstat(p)] if __import__('stat').S_ISREG(s.st_mode)][:200]";

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (long Size, long Modified)>> _seen = new(StringComparer.Ordinal);

    /// <summary>Runs code in the session's sandbox, then reads back what it wrote under <c>/out</c>.</summary>
    /// <exception cref="ArgumentException">A global or a data file is not allowed (the message says which).</exception>
    /// <exception cref="TimeoutException">No sandbox was free in time (every place in the pool is in use), or the cluster did not answer.</exception>
    public async Task<(SandboxResult Result, SandboxResult? OutFiles)> RunAsync(McpServer server, string code, RunInputs inputs, CancellationToken cancellationToken)
    {
        var sessionId = SessionOf(server);
        var timeout = runner.SandboxOptions.Timeout;
        using var cap = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cap.CancelAfter(maxWaitForSandbox + timeout + TimeSpan.FromSeconds(5));
        SandboxResult result;
        try
        {
            result = sessionId is null
                ? await runner.RunAsync(code, inputs, cap.Token).ConfigureAwait(false)
                : await runner.RunInSessionAsync(sessionId, code, inputs, cap.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(runner is PyodideEmbedded.Orleans.SandboxCluster
                ? $"the sandbox cluster gave no result within {(maxWaitForSandbox + timeout).TotalSeconds:0} s: its silos are full or out of reach; try again later"
                : $"no sandbox was free within {maxWaitForSandbox.TotalSeconds:0} s: every session the server allows is in use");
        }

        if (sessionId is null)
        {
            return (result, null); // the sandbox is gone already: a fresh one per call
        }

        if (result.SandboxLost)
        {
            _seen.TryRemove(sessionId, out _);
            return (result, null);
        }

        return (result, await ReadNewOutFilesAsync(sessionId, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Ends the session: its sandbox (variables, imports, files) is discarded; the next call starts a new one.</summary>
    public async Task<bool> ResetAsync(McpServer server)
    {
        if (SessionOf(server) is not { } sessionId)
        {
            return false;
        }

        _seen.TryRemove(sessionId, out _);
        return await runner.EndSessionAsync(sessionId).ConfigureAwait(false);
    }

    // Prefixed so that no MCP session id can name the stdio session.
    private string? SessionOf(McpServer server) => server.SessionId is { Length: > 0 } id ? "mcp:" + id : sessionWithoutId;

    private async Task<SandboxResult?> ReadNewOutFilesAsync(string sessionId, CancellationToken cancellationToken)
    {
        var quick = new RunInputs { Timeout = Min(runner.SandboxOptions.Timeout, TimeSpan.FromSeconds(2)) };
        var listing = await runner.RunInSessionAsync(sessionId, ListOutFiles, quick, cancellationToken).ConfigureAwait(false);
        if (listing.Value is not { ValueKind: JsonValueKind.Array } files)
        {
            return null;
        }

        var seen = _seen.GetOrAdd(sessionId, _ => new(StringComparer.Ordinal));
        var changed = new List<(string Path, long Size, long Modified)>();
        foreach (var file in files.EnumerateArray())
        {
            if (file is not { ValueKind: JsonValueKind.Array } || file.GetArrayLength() != 3 || file[0].ValueKind != JsonValueKind.String
                || !file[1].TryGetInt64(out var size) || !file[2].TryGetInt64(out var modified))
            {
                continue;
            }

            var path = file[0].GetString()!;
            if (!path.StartsWith("/out/", StringComparison.Ordinal) || (seen.TryGetValue(path, out var before) && before == (size, modified)))
            {
                continue;
            }

            changed.Add((path, size, modified));
        }

        if (changed.Count == 0)
        {
            return null;
        }

        // The first ones by name; the others come back with a later call.
        var taken = changed.OrderBy(f => f.Path, StringComparer.Ordinal).Take(MaxFilesPerCall).ToList();
        foreach (var (path, size, modified) in taken)
        {
            seen[path] = (size, modified);
        }

        try
        {
            // Paths are checked again by the library (absolute, normal, under /out, no link followed on the way).
            return await runner.RunInSessionAsync(sessionId, "None", quick with { ReadFiles = taken.ConvertAll(f => f.Path) }, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException)
        {
            return null; // a name the library refuses (the code chose it): not handed back
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
