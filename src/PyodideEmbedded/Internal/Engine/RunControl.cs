namespace PyodideEmbedded.Internal;

/// <summary>Why a run was stopped before it finished.</summary>
internal enum StopReason
{
    None,
    Timeout,
    Cancelled,
    Disposed,
}

/// <summary>
/// Stops one run in escalating steps: a soft interrupt (Python raises <c>KeyboardInterrupt</c> and the
/// interpreter survives), then after a grace period a hard one (V8 terminates the script and the
/// interpreter is lost), then, if even that does not end the run (V8 can be stuck inside one huge
/// native operation), the run is abandoned so that the caller still gets an answer.
/// Thread-safe: timers, the caller's token and Dispose may all call <see cref="Stop"/>.
/// </summary>
internal sealed class RunControl : IDisposable
{
    private static readonly TimeSpan AbandonAfter = TimeSpan.FromSeconds(2);

    private readonly PyodideEngine _engine;
    private readonly TimeSpan _grace;
    private readonly Lock _lock = new();
    private readonly ManualResetEventSlim _stopSignal = new();
    private readonly TaskCompletionSource _abandoned = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Timer? _deadline;
    private Timer? _escalation;
    private bool _finished;

    public RunControl(PyodideEngine engine, TimeSpan timeout, TimeSpan grace)
    {
        _engine = engine;
        _grace = grace;
        _deadline = new Timer(static s => ((RunControl)s!).Stop(StopReason.Timeout), this, timeout, Timeout.InfiniteTimeSpan);
    }

    public StopReason Reason { get; private set; }

    /// <summary>Whether V8 execution was terminated (the interpreter can no longer be trusted).</summary>
    public bool Terminated { get; private set; }

    /// <summary>Set when a stop is requested; an awaiting run checks it between event-loop turns.</summary>
    public WaitHandle StopSignal => _stopSignal.WaitHandle;

    /// <summary>Completes when the run would not stop even when terminated.</summary>
    public Task Abandoned => _abandoned.Task;

    public void Stop(StopReason reason)
    {
        lock (_lock)
        {
            if (_finished || Reason != StopReason.None)
            {
                return;
            }

            Reason = reason;
            // The interrupt first: a host function call wakes on the signal and takes the pending interrupt as it
            // returns (Bootstrap.js); set the other way round, the interrupt could land after, in the runner.
            _engine.RequestSoftInterrupt();
            _stopSignal.Set();
            var grace = reason == StopReason.Disposed ? TimeSpan.Zero : _grace;
            _escalation = new Timer(static s => ((RunControl)s!).Terminate(), this, grace, Timeout.InfiniteTimeSpan);
        }
    }

    private void Terminate()
    {
        lock (_lock)
        {
            if (_finished)
            {
                return;
            }

            Terminated = true;
            _engine.Terminate();
            _escalation?.Dispose();
            _escalation = new Timer(static s => ((RunControl)s!)._abandoned.TrySetResult(), this, AbandonAfter, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Marks the run finished: no interrupt may reach the engine after this returns.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _finished = true;
            _deadline?.Dispose();
            _deadline = null;
            _escalation?.Dispose();
            _escalation = null;
            _engine.ClearSoftInterrupt();
        }

        _stopSignal.Dispose();
    }
}
