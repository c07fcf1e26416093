namespace PyodideEmbedded.Orleans;

/// <summary>The caller's side of the cluster (<see cref="SandboxCluster"/>).</summary>
public sealed record SandboxClusterOptions
{
    /// <summary>The client's grain call timeout (<c>ClientMessagingOptions.ResponseTimeout</c>, default 2 minutes): the
    /// longest any call waits, including one whose silo died without its connection being closed (a
    /// <see cref="TimeoutException"/>; a fresh run is sent again, see <see cref="FreshRunRetries"/>). It must exceed the
    /// longest run's time limit plus the wait for a sandbox, so that a run that is too long ends as the sandbox's
    /// time-limit result and never as an Orleans timeout: a <see cref="RunInputs.Timeout"/> within a minute of it is
    /// refused.</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The silos' session idle timeout (their <see cref="SandboxPoolOptions.SessionIdleTimeout"/>, default 10
    /// minutes). A session unused for longer is known to be gone, so its next call opens a new session silently, as in
    /// the library; a session whose silo was lost before that answers <see cref="SandboxResult.SandboxLost"/>.</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How many times a fresh run is sent again when the silo that took it left before answering (default 2).
    /// A fresh run has no state, so running it again elsewhere is safe unless its host functions act outside the
    /// sandbox.</summary>
    public int FreshRunRetries { get; init; } = 2;

    /// <summary>The silos' sandbox options as callers should know them (default: the library's defaults): the time and
    /// memory limits and packages that <see cref="SandboxCluster.SandboxOptions"/> reports, for describing the
    /// environment to a model and for sizing waits. The silos run with their own (<see cref="PythonSandboxSiloOptions.Pool"/>);
    /// declare the same here (a silo's own cluster, from <c>AddPythonSandboxes</c>, has the silo's). Their time limit must be
    /// under <see cref="ResponseTimeout"/>.</summary>
    public SandboxOptions Sandbox { get; init; } = new();

    /// <summary>The most a run's code, globals and files may hold, in bytes, to cross to a silo in one message (default
    /// 96 MiB; 1 MiB to 1 GiB). A larger run is refused by the caller with an <see cref="ArgumentException"/>; the client's
    /// Orleans message size limit is raised to fit it. Set the silos' <see cref="PythonSandboxSiloOptions.MaxMessageBytes"/>
    /// to the same: it bounds results on the way back.</summary>
    public long MaxMessageBytes { get; init; } = PythonSandboxSiloOptions.DefaultMaxMessageBytes;

    internal void Validate()
    {
        PythonSandboxSiloOptions.CheckMaxMessageBytes(MaxMessageBytes);
        if (ResponseTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"ResponseTimeout must be positive (it is {ResponseTimeout}).");
        }

        if (SessionIdleTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"SessionIdleTimeout must be positive (it is {SessionIdleTimeout}).");
        }

        if (FreshRunRetries is < 0 or > 10)
        {
            throw new ArgumentException($"FreshRunRetries must be between 0 and 10 (it is {FreshRunRetries}).");
        }

        ArgumentNullException.ThrowIfNull(Sandbox);
        if (Sandbox.Timeout >= ResponseTimeout)
        {
            throw new ArgumentException($"The sandboxes' time limit (Sandbox.Timeout, {Sandbox.Timeout}) must be under ResponseTimeout ({ResponseTimeout}), or a long run would end as an Orleans timeout.");
        }
    }
}
