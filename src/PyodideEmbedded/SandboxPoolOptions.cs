namespace PyodideEmbedded;

/// <summary>Size and session rules for a <see cref="SandboxPool"/>. Immutable; safe to share.</summary>
public sealed record SandboxPoolOptions
{
    /// <summary>Limits and asset folder for every sandbox in the pool.</summary>
    /// <value>Default: <see cref="SandboxOptions"/>' defaults.</value>
    public SandboxOptions Sandbox { get; init; } = new();

    /// <summary>How many started, unused sandboxes the pool keeps waiting, refilled in the background.</summary>
    /// <value>Default 2. Between 0 and <see cref="MaxSandboxes"/>.</value>
    /// <remarks>The filling begins with the pool's first call; <see cref="SandboxPool.WarmUpAsync"/> begins it and
    /// waits until this many are ready. With 0, every call that finds none ready starts one itself.</remarks>
    public int MinReady { get; init; } = 2;

    /// <summary>Most sandboxes alive at once: ready ones, ones starting, sessions and sandboxes taken out.</summary>
    /// <value>Default 16. Between 1 and 1000.</value>
    /// <remarks>Each idle sandbox costs tens of MiB. A caller who needs a sandbox while the pool is full waits
    /// until one is freed (a run ends, a session ends or expires, a taken sandbox is disposed).</remarks>
    public int MaxSandboxes { get; init; } = 16;

    /// <summary>How long a session may stay unused before the pool ends it and frees its sandbox (reset for the next
    /// caller, see <see cref="ResetInPlace"/>). Also how long ready sandboxes beyond <see cref="MinReady"/> (recycled
    /// after a burst) may stay unused before they are disposed.</summary>
    /// <value>Default 10 minutes. Between 1 second and 7 days.</value>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Whether a fresh run's sandbox, and an ended or expired session's, is reset in place afterwards and used
    /// again (a few milliseconds), rather than discarded so that every run or session gets a new isolate (~0.25 s of
    /// CPU each, the behaviour before resets in place).</summary>
    /// <value>Default <see langword="true"/>.</value>
    /// <remarks>A reset in place gives the next run an interpreter indistinguishable from a new one, and uses a new
    /// isolate whenever it cannot (see <see cref="PythonSandbox.ResetAsync"/> and SECURITY.md). Set
    /// <see langword="false"/> to keep one V8 isolate per run all the same, or when the pool serves a single run (the
    /// sandboxes then skip recording their started state).</remarks>
    public bool ResetInPlace { get; init; } = true;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Sandbox, nameof(Sandbox));
        Sandbox.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSandboxes, 1, nameof(MaxSandboxes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxSandboxes, 1000, nameof(MaxSandboxes));
        ArgumentOutOfRangeException.ThrowIfNegative(MinReady, nameof(MinReady));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MinReady, MaxSandboxes, nameof(MinReady));
        ArgumentOutOfRangeException.ThrowIfLessThan(SessionIdleTimeout, TimeSpan.FromSeconds(1), nameof(SessionIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SessionIdleTimeout, TimeSpan.FromDays(7), nameof(SessionIdleTimeout));
    }
}
