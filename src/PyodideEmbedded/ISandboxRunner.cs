namespace PyodideEmbedded;

/// <summary>
/// Runs Python for code that should not care where: <see cref="SandboxPool"/> runs it in this process, and
/// <c>SandboxCluster</c> (package PyodideEmbedded.Orleans) on a cluster of machines. Fresh runs share nothing; a session
/// keeps one sandbox, with its state, until it ends or idles out.
/// </summary>
/// <remarks>
/// <para>Implementations are thread-safe. Write integrations (tools, servers, handlers) against this interface, and
/// choose the pool or the cluster where the application is put together: the MCP server and the DI package do.</para>
/// <para>A result with <see cref="SandboxResult.SandboxLost"/> in a session says its state is gone (its sandbox was
/// lost in the run, the session was ended, or, on a cluster, its machine left): the code may not have run, and the next
/// call opens a new session.</para>
/// </remarks>
public interface ISandboxRunner
{
    /// <summary>The options the sandboxes run with: the time and memory limits and the packages, for describing the
    /// environment (to a model, say) and for sizing waits. On a cluster these are the ones its caller declared.</summary>
    SandboxOptions SandboxOptions { get; }

    /// <summary>Runs code in a fresh interpreter: nothing from an earlier run is visible to it.</summary>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">Globals, files in and out, time limit; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run.</param>
    /// <returns>The run's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ArgumentException">A global, a file path or the time limit in <paramref name="inputs"/> is not allowed.</exception>
    Task<SandboxResult> RunAsync(string code, RunInputs? inputs = null, CancellationToken cancellationToken = default);

    /// <summary>Runs code in the session's sandbox, opening the session if needed.</summary>
    /// <param name="sessionId">Any non-empty string chosen by the caller, such as a user or conversation id.</param>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">Globals, files in and out, time limit; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the wait for a sandbox, or stops the run.</param>
    /// <returns>The run's result; <see cref="SandboxResult.SandboxLost"/> when the session's state is gone.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty, or a global, a file path or the
    /// time limit in <paramref name="inputs"/> is not allowed.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    Task<SandboxResult> RunInSessionAsync(string sessionId, string code, RunInputs? inputs = null, CancellationToken cancellationToken = default);

    /// <summary>Ends a session: stops its run in progress and frees its sandbox.</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <returns>Whether the session was open.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty.</exception>
    Task<bool> EndSessionAsync(string sessionId);
}
