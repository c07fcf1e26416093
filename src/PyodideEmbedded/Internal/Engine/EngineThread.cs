namespace PyodideEmbedded.Internal;

/// <summary>
/// The one thread on which a sandbox's isolate runs. V8 blocks its caller for the whole run, so runs
/// stay off the thread pool; a long-lived thread also avoids creating one per call.
/// </summary>
internal sealed class EngineThread : IDisposable
{
    private readonly Thread _thread;
    private readonly SemaphoreSlim _workReady = new(0);
    private Action? _work;
    private volatile bool _stopping;

    public EngineThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="work"/> on the engine thread. Callers must not overlap (the sandbox's gate ensures it).</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _work, () =>
        {
            try
            {
                completion.SetResult(work());
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
        });
        _workReady.Release();
        return completion.Task;
    }

    private void Loop()
    {
        while (true)
        {
            _workReady.Wait();
            if (_stopping)
            {
                return;
            }

            Interlocked.Exchange(ref _work, null)?.Invoke();
        }
    }

    /// <summary>Ends the thread once it is idle; a run still in progress finishes first.</summary>
    public void Dispose()
    {
        _stopping = true;
        _workReady.Release();
    }
}
