using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace PyodideEmbedded.Tests.Shared;

/// <summary>
/// A logger factory and a meter factory of a test's own, so that what it asserts comes from its own sandboxes only
/// (the process-wide meter also counts every other test running beside it).
/// </summary>
internal sealed class TelemetryCapture : IMeterFactory
{
    private readonly List<Meter> _meters = [];
    private readonly FakeLoggerProvider _logs = new();

    public TelemetryCapture() => LoggerFactory = new LoggerFactory([_logs]);

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Every log record so far.</summary>
    public IReadOnlyList<FakeLogRecord> Logs => _logs.Collector.GetSnapshot();

    /// <summary>Sandbox options that report here.</summary>
    public SandboxOptions Apply(SandboxOptions options) => options with { LoggerFactory = LoggerFactory, MeterFactory = this };

    public MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(this, "PyodideEmbedded", instrument);

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            _meters.ForEach(m => m.Dispose());
        }

        LoggerFactory.Dispose();
        _logs.Dispose();
    }
}
