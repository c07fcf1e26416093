using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A pool's sessions by id. Concurrent first calls for one id share a single start; a start that fails is
/// forgotten (the next call tries again); an entry is removed only together with the session it holds, so
/// ending an old session can never remove the new one opened under the same id.
/// </summary>
/// <remarks>Thread-safe. Starts run detached from the callers who asked for them: a caller whose token is
/// cancelled stops waiting, while the others (and the table) still get the session.</remarks>
internal sealed class SessionTable<TSession>
    where TSession : class
{
    private readonly ConcurrentDictionary<string, Task<TSession>> _entries = new(StringComparer.Ordinal);
    private int _closed;

    /// <summary>Open sessions, counting those still starting.</summary>
    public int Count => _entries.Count;

    /// <summary>The id's session, started by <paramref name="start"/> if the table has none.</summary>
    /// <param name="id">The session id.</param>
    /// <param name="start">Not tied to one caller's token: other calls for the same id may be waiting on it.</param>
    /// <param name="cancellationToken">Stops this caller's wait, not the start.</param>
    /// <exception cref="ObjectDisposedException">The table was closed.</exception>
    public Task<TSession> GetOrStartAsync(string id, Func<Task<TSession>> start, CancellationToken cancellationToken)
    {
        if (!_entries.TryGetValue(id, out var entry))
        {
            var starting = new TaskCompletionSource<TSession>(TaskCreationOptions.RunContinuationsAsynchronously);
            entry = _entries.GetOrAdd(id, starting.Task);
            if (entry == starting.Task)
            {
                // Read with a full fence after the add, as Close writes before it reads: either Close sees
                // this entry (and ends what it starts), or this sees Close.
                if (Interlocked.CompareExchange(ref _closed, 0, 0) != 0)
                {
                    _entries.TryRemove(new KeyValuePair<string, Task<TSession>>(id, starting.Task));
                    return Task.FromException<TSession>(new ObjectDisposedException(nameof(SessionTable<TSession>)));
                }

                _ = StartAsync(id, starting, start);
            }
        }

        return entry.WaitAsync(cancellationToken);
    }

    /// <summary>The id's entry, started or still starting.</summary>
    public bool TryGet(string id, out Task<TSession> entry) => _entries.TryGetValue(id, out entry!);

    /// <summary>Removes the id's entry if it holds this session (not one opened since under the same id).</summary>
    public bool Remove(string id, TSession session) =>
        _entries.TryGetValue(id, out var entry) && TryGetStarted(entry, out var started) && started == session
        && _entries.TryRemove(new KeyValuePair<string, Task<TSession>>(id, entry));

    /// <summary>The started sessions, with their ids (a snapshot; sessions still starting are left out).</summary>
    public IEnumerable<(string Id, TSession Session)> Started()
    {
        foreach (var (id, entry) in _entries)
        {
            if (TryGetStarted(entry, out var session))
            {
                yield return (id, session);
            }
        }
    }

    /// <summary>Refuses further starts and empties the table, handing back every entry, started or still starting.</summary>
    public IReadOnlyList<Task<TSession>> Close()
    {
        Interlocked.Exchange(ref _closed, 1);
        var entries = new List<Task<TSession>>();
        foreach (var id in _entries.Keys)
        {
            if (_entries.TryRemove(id, out var entry))
            {
                entries.Add(entry);
            }
        }

        return entries;
    }

    /// <summary>The entry's session if its start has succeeded; false while starting or after a failed start.</summary>
    private static bool TryGetStarted(Task<TSession> entry, [NotNullWhen(true)] out TSession? session)
    {
#pragma warning disable RS0030 // Task.Result is banned for blocking; a task that completed successfully cannot block
        session = entry.IsCompletedSuccessfully ? entry.Result : null;
#pragma warning restore RS0030
        return session is not null;
    }

    private async Task StartAsync(string id, TaskCompletionSource<TSession> starting, Func<Task<TSession>> start)
    {
        try
        {
            starting.SetResult(await start().ConfigureAwait(false));
        }
#pragma warning disable CA1031 // every failure goes to the callers waiting on the start
        catch (Exception e)
#pragma warning restore CA1031
        {
            // A failed start is not remembered: the next call tries again.
            _entries.TryRemove(new KeyValuePair<string, Task<TSession>>(id, starting.Task));
            if (e is OperationCanceledException canceled)
            {
                starting.SetCanceled(canceled.CancellationToken);
            }
            else
            {
                starting.SetException(e);
                _ = starting.Task.Exception; // observed here: every caller may have stopped waiting
            }
        }
    }
}
