using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using PyodideEmbedded.Orleans.Internal;

namespace PyodideEmbedded.Orleans;

/// <summary>Runs Python on a cluster of silos, as <see cref="SandboxPool"/> does in one process: fresh runs
/// (<see cref="RunAsync(string, RunInputs?, CancellationToken)"/>) on any silo's pool, and sessions
/// (<see cref="RunInSessionAsync(string, string, RunInputs?, CancellationToken)"/>) that keep one sandbox, with its state,
/// on one silo.</summary>
/// <remarks>
/// <para>Thread-safe; register it with <c>services.AddPythonSandboxCluster()</c> (a client) or
/// <c>siloBuilder.AddPythonSandboxes(...)</c> (a silo), which also set the grain call timeouts.</para>
/// <para>A session whose silo stopped, failed or left answers its next call, from another silo, with
/// <see cref="SandboxResult.SandboxLost"/> and a <c>SandboxLost</c> error, without running the code; the call after that
/// runs in a new sandbox. This object remembers which activation of each session it last talked to: a session used
/// through another <see cref="SandboxCluster"/> (another process) is not known to it, and a first call through it
/// after a loss opens a new session without that report.</para>
/// </remarks>
public sealed class SandboxCluster : ISandboxRunner
{
    /// <summary>The longest session id the cluster takes, in characters (an id is a grain key).</summary>
    public const int MaxSessionIdLength = 1024;

    private static readonly TimeSpan s_timeoutMargin = TimeSpan.FromMinutes(1);
    private readonly IGrainFactory _grains;
    private readonly SandboxClusterOptions _options;
    private readonly ConcurrentDictionary<string, (Guid Generation, long LastUsed)> _sessions = new(StringComparer.Ordinal);
    // When the sessions unused for an idle timeout were last forgotten: a client of many short sessions stays small.
    private long _lastSweep = Stopwatch.GetTimestamp();

    /// <summary>Creates the cluster's entry point over a grain factory (a cluster client's, or a silo's).</summary>
    /// <param name="grains">The grain factory.</param>
    /// <param name="options">The options; null for the defaults. They should match those the registration used.</param>
    /// <exception cref="ArgumentNullException"><paramref name="grains"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range, or the declared sandbox time limit is not under
    /// <see cref="SandboxClusterOptions.ResponseTimeout"/>.</exception>
    public SandboxCluster(IGrainFactory grains, SandboxClusterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _options = options ?? new();
        _options.Validate();
    }

    /// <summary>The silos' sandbox options, as declared in <see cref="SandboxClusterOptions.Sandbox"/> (a silo's own
    /// <see cref="SandboxCluster"/> has that silo's).</summary>
    public SandboxOptions SandboxOptions => _options.Sandbox;

    /// <summary>Runs code in a fresh interpreter on one of the silos (the one the call reaches), as
    /// <see cref="SandboxPool.RunAsync(string, RunInputs?, CancellationToken)"/> does.</summary>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">Globals, files in and out, time limit; null for none.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <returns>The run's result, as the library returns it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="ArgumentException">A global, a file path or the time limit is not allowed, or the code, globals
    /// and files pass <see cref="SandboxClusterOptions.MaxMessageBytes"/>.</exception>
    /// <exception cref="SiloUnavailableException">The silos that took the run left before answering, more times than
    /// <see cref="SandboxClusterOptions.FreshRunRetries"/>.</exception>
    /// <exception cref="TimeoutException">No silo answered within <see cref="SandboxClusterOptions.ResponseTimeout"/>, more
    /// times than <see cref="SandboxClusterOptions.FreshRunRetries"/>.</exception>
    public async Task<SandboxResult> RunAsync(string code, RunInputs? inputs = null, CancellationToken cancellationToken = default)
    {
        var request = Prepare(code, inputs, null);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var response = await _grains.GetGrain<ISandboxRunnerGrain>(0).RunAsync(request, cancellationToken).ConfigureAwait(false);
                return Wire.ToResult(response);
            }
            catch (Exception e) when (e is SiloUnavailableException or TimeoutException
                && attempt < _options.FreshRunRetries && !cancellationToken.IsCancellationRequested)
            {
                // The silo left with the run (or stopped answering for longer than any run may take): nothing of the
                // run survives, so send it again (another gateway or silo takes it).
            }
        }
    }

    /// <summary>Runs code in the session's sandbox, opening the session (on the silo with sandboxes to spare) if needed,
    /// as <see cref="SandboxPool.RunInSessionAsync(string, string, RunInputs?, CancellationToken)"/> does.</summary>
    /// <param name="sessionId">Any non-empty string chosen by the caller.</param>
    /// <param name="code">Python source.</param>
    /// <param name="inputs">Globals, files in and out, time limit; null for none.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <returns>The run's result. <see cref="SandboxResult.SandboxLost"/> says the session's state is gone (its sandbox
    /// was lost in the run, or with its silo, or the session was ended): the next call opens a new one.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null, empty or longer than
    /// <see cref="MaxSessionIdLength"/>, a global, a file path or the
    /// time limit is not allowed, or the code, globals and files pass <see cref="SandboxClusterOptions.MaxMessageBytes"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="code"/> is null.</exception>
    /// <exception cref="TimeoutException">The session's silo did not answer within
    /// <see cref="SandboxClusterOptions.ResponseTimeout"/> (it may have died without closing its connections); the next
    /// call, once the cluster has noticed, answers <see cref="SandboxResult.SandboxLost"/> from another silo.</exception>
    public async Task<SandboxResult> RunInSessionAsync(string sessionId, string code, RunInputs? inputs = null, CancellationToken cancellationToken = default)
    {
        CheckSessionId(sessionId);
        Guid? expected = null;
        if (_sessions.TryGetValue(sessionId, out var known) && Stopwatch.GetElapsedTime(known.LastUsed) < _options.SessionIdleTimeout)
        {
            expected = known.Generation;
        }

        var request = Prepare(code, inputs, expected);
        SandboxRunResponse response;
        try
        {
            response = await _grains.GetGrain<ISandboxSessionGrain>(sessionId).RunAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (SiloUnavailableException e)
        {
            // The silo left during the run: the state is gone, and the caller is told so now (not again on the next call).
            _sessions.TryRemove(sessionId, out _);
            return Wire.ToResult(Wire.Lost("the session's silo left during this run: " + e.Message, Guid.Empty, ""));
        }

        if (response.SandboxLost)
        {
            // The caller is told now; the next call starts a new session without telling it again.
            _sessions.TryRemove(sessionId, out _);
        }
        else
        {
            _sessions[sessionId] = (response.Generation, Stopwatch.GetTimestamp());
        }

        ForgetIdleSessions();
        return Wire.ToResult(response);
    }

    /// <summary>Ends a session: stops its run in progress and frees its sandbox on its silo.</summary>
    /// <param name="sessionId">The session's id.</param>
    /// <returns>Whether the session was open.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty, or longer than
    /// <see cref="MaxSessionIdLength"/>.</exception>
    public async Task<bool> EndSessionAsync(string sessionId)
    {
        CheckSessionId(sessionId);
        _sessions.TryRemove(sessionId, out _);
        return await _grains.GetGrain<ISandboxSessionGrain>(sessionId).EndAsync().ConfigureAwait(false);
    }

    /// <summary>Whether this object remembers the session's activation (for tests).</summary>
    internal bool Remembers(string sessionId) => _sessions.ContainsKey(sessionId);

    // A session unused for its idle timeout is gone on its silo too: nothing to remember (at most one sweep an idle
    // timeout, by the call that finds it due).
    private void ForgetIdleSessions()
    {
        var last = Volatile.Read(ref _lastSweep);
        if (Stopwatch.GetElapsedTime(last) < _options.SessionIdleTimeout
            || Interlocked.CompareExchange(ref _lastSweep, Stopwatch.GetTimestamp(), last) != last)
        {
            return;
        }

        foreach (var (id, known) in _sessions)
        {
            if (Stopwatch.GetElapsedTime(known.LastUsed) >= _options.SessionIdleTimeout)
            {
                _sessions.TryRemove(KeyValuePair.Create(id, known)); // not if a call just refreshed it
            }
        }
    }

    // The id is the session grain's key, carried in every message to it and kept in the grain directory.
    private static void CheckSessionId(string sessionId, [CallerArgumentExpression(nameof(sessionId))] string? name = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId, name);
        if (sessionId.Length > MaxSessionIdLength)
        {
            throw new ArgumentException($"A session id on a cluster is at most {MaxSessionIdLength} characters (this one has {sessionId.Length}).", name);
        }
    }

    private SandboxRunRequest Prepare(string code, RunInputs? inputs, Guid? expected)
    {
        ArgumentNullException.ThrowIfNull(code);
        if (inputs?.Timeout is { } timeout && timeout > _options.ResponseTimeout - s_timeoutMargin)
        {
            throw new ArgumentException(
                $"The run's time limit ({timeout}) must be at least a minute under the cluster's call timeout (SandboxClusterOptions.ResponseTimeout, {_options.ResponseTimeout}).",
                nameof(inputs));
        }

        var request = Wire.ToRequest(code, inputs, expected);
        if (Wire.RequestBytes(request) is var size && size > _options.MaxMessageBytes)
        {
            // Refused here: an oversized message makes Orleans close the connection, and the call would wait out its timeout.
            throw new ArgumentException(
                $"The run's code, globals and files ({size} bytes) pass what one cluster message carries (SandboxClusterOptions.MaxMessageBytes, {_options.MaxMessageBytes} bytes).",
                nameof(inputs));
        }

        return request;
    }
}
