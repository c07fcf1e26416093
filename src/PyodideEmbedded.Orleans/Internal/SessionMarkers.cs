using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace PyodideEmbedded.Orleans.Internal;

/// <summary>What grain storage keeps of an open session: which activation holds it, and when it was last seen in use.
/// A marker that outlives its activation (the silo died, or shut down with the session open) is how any caller, from
/// any client, learns that the session's state was lost.</summary>
[GenerateSerializer]
internal sealed class SessionMarker
{
    [Id(0)] public Guid Generation { get; set; }

    [Id(1)] public string Silo { get; set; } = "";

    [Id(2)] public DateTime SeenUtc { get; set; }
}

/// <summary>The session grain's marker in the grain storage named by
/// <see cref="PythonSandboxSiloOptions.SessionStorageName"/>: read at activation, written when the activation opens
/// the session (and again when it was last written half an idle timeout ago), cleared when the session ends or idles
/// out. A session whose silo is lost keeps its marker, so the next activation knows.</summary>
internal sealed partial class SessionMarkers(IGrainStorage storage, string storageName, TimeSpan idleTimeout, ILogger logger)
{
    private const string StateName = "python-session";

    public static SessionMarkers? Create(IServiceProvider services, PythonSandboxSiloOptions options, ILogger logger)
    {
        if (options.SessionStorageName is not { } name)
        {
            return null;
        }

        var storage = services.GetKeyedService<IGrainStorage>(name)
            ?? throw new InvalidOperationException(
                $"PythonSandboxSiloOptions.SessionStorageName names grain storage '{name}', but no grain storage of that name is registered (for example siloBuilder.AddAdoNetGrainStorage(\"{name}\", ...)).");
        return new SessionMarkers(storage, name, options.Pool.SessionIdleTimeout, logger);
    }

    /// <summary>Reads the marker; returns whether it says an earlier activation held the session open and would not
    /// have idled out yet (its state was lost, not expired).</summary>
    public async Task<bool> ReadAsync(GrainId session, GrainState<SessionMarker> marker, Guid generation)
    {
        try
        {
            await storage.ReadStateAsync(StateName, session, marker).ConfigureAwait(true);
        }
#pragma warning disable CA1031 // storage down: the session still works, only a loss is not reported to other clients
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogStorageFailed(logger, "read", storageName, e);
            return false;
        }

        return marker.RecordExists && marker.State is { } state && state.Generation != Guid.Empty && state.Generation != generation
            && DateTime.UtcNow - state.SeenUtc < idleTimeout;
    }

    /// <summary>Records this activation as the session's holder, unless it already is and said so recently.</summary>
    public async Task MarkOpenAsync(GrainId session, GrainState<SessionMarker> marker, Guid generation, string silo)
    {
        var now = DateTime.UtcNow;
        if (marker.State is { } state && state.Generation == generation && now - state.SeenUtc < idleTimeout / 2)
        {
            return;
        }

        marker.State = new SessionMarker { Generation = generation, Silo = silo, SeenUtc = now };
        await WriteAsync("write", () => storage.WriteStateAsync(StateName, session, marker)).ConfigureAwait(true);
    }

    /// <summary>Forgets the session: it ended or idled out, so its next call opens a new one without a loss to report.</summary>
    public Task ClearAsync(GrainId session, GrainState<SessionMarker> marker) =>
        marker.RecordExists ? WriteAsync("clear", () => storage.ClearStateAsync(StateName, session, marker)) : Task.CompletedTask;

    private async Task WriteAsync(string what, Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(true);
        }
#pragma warning disable CA1031 // storage down or a stale ETag: the run goes on; only the report of a later loss is at stake
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogStorageFailed(logger, what, storageName, e);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "Could not {What} a Python session's marker in grain storage '{Storage}': if its silo is lost, a caller other than the one that used it may not be told (SandboxLost)")]
    // No session id: ids are capabilities (SECURITY.md), and logs never hold them.
    private static partial void LogStorageFailed(ILogger logger, string what, string storage, Exception exception);
}
