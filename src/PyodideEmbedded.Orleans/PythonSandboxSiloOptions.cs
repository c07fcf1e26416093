namespace PyodideEmbedded.Orleans;

/// <summary>A silo's Python sandboxes: its local pool, and how it tells the cluster what it has to spare.</summary>
public sealed record PythonSandboxSiloOptions
{
    /// <summary>The silo's local pool. <see cref="SandboxPoolOptions.MaxSandboxes"/> bounds the sandboxes (sessions plus
    /// fresh runs) on this silo: a silo at its maximum takes no new session while another has room.
    /// <see cref="SandboxPoolOptions.SessionIdleTimeout"/> is the session grain's idle timeout: it is deactivated and its
    /// sandbox freed after that long without a call.</summary>
    public SandboxPoolOptions Pool { get; init; } = new();

    /// <summary>How often the silo reports its sandboxes (in use, ready, maximum, memory) to the cluster, for placing
    /// new sessions. Default 1 s.</summary>
    public TimeSpan LoadReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>What one sandbox costs in memory (default 40 MiB, a started sandbox being about 38 MiB): a silo whose
    /// machine has less than two of these available takes no new session while another has room.</summary>
    public long MemoryPerSandboxBytes { get; init; } = 40L * 1024 * 1024;

    /// <summary>Whether the silo starts <see cref="SandboxPoolOptions.MinReady"/> sandboxes when it becomes active
    /// (default true).</summary>
    public bool WarmUp { get; init; } = true;

    /// <summary>The silo's grain call timeout (<c>SiloMessagingOptions.ResponseTimeout</c>); null (the default) for the
    /// sandbox's time limit plus one minute, at least 30 s, so that a busy loop ends as the sandbox's time-limit result
    /// and never as an Orleans timeout.</summary>
    public TimeSpan? ResponseTimeout { get; init; }

    /// <summary>The name of an Orleans grain storage provider (for example <c>AddAdoNetGrainStorage("python-sessions", ...)</c>
    /// or <c>AddAzureTableGrainStorage</c>) where each open session keeps a small marker: which activation holds it and
    /// when it was last used (one write when a session opens, another at most every half idle timeout, one clear when it
    /// ends or idles out). With it, a session lost with its silo answers <see cref="SandboxResult.SandboxLost"/> to its
    /// next caller from any client, a restarted one included. Without it (null, the default), only the
    /// <see cref="SandboxCluster"/> that used the session is told; another client's first call silently opens a new
    /// session. The storage must outlive a silo: in-memory grain storage lives on the silos and may go with the one
    /// that fails.</summary>
    public string? SessionStorageName { get; init; }

    /// <summary>The most a run's result (value, output, files read back) may hold, in bytes, to cross back to the caller
    /// in one message (default 96 MiB; 1 MiB to 1 GiB). Files that would pass it are not returned: each is named in
    /// <see cref="SandboxResult.FileErrors"/>. The silo's Orleans message size limit is raised to fit it (and the
    /// largest request, so set the clients' <see cref="SandboxClusterOptions.MaxMessageBytes"/> to the same).</summary>
    public long MaxMessageBytes { get; init; } = DefaultMaxMessageBytes;

    internal const long DefaultMaxMessageBytes = 96L * 1024 * 1024;

    // Orleans' own limit on a message body, raised (never lowered) to carry the largest run and its framing.
    internal static int OrleansBodyLimit(long maxMessageBytes, int current) =>
        (int)Math.Max(current, maxMessageBytes + Internal.Wire.MessageHeadroomBytes);

    internal static void CheckMaxMessageBytes(long value)
    {
        if (value is < 1024 * 1024 or > 1024L * 1024 * 1024)
        {
            throw new ArgumentException($"MaxMessageBytes must be between 1 MiB and 1 GiB (it is {value}).");
        }
    }

    internal TimeSpan EffectiveResponseTimeout =>
        ResponseTimeout ?? TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, (Pool.Sandbox.Timeout + TimeSpan.FromMinutes(1)).Ticks));
}
