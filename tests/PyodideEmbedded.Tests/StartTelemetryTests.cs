using Microsoft.Extensions.Logging;

namespace PyodideEmbedded.Tests;

/// <summary>A start that fails on its assets is logged and counted (no Pyodide boot: the folder is missing).</summary>
public sealed class StartTelemetryTests
{
    [Fact]
    public async Task CreateAsync_MissingAssets_LogsAssetVerificationFailureAndCountsAFailedStart()
    {
        using var telemetry = new TelemetryCapture();
        using var starts = telemetry.Collect<long>("pyodide.sandbox.starts");
        var folder = Path.Combine(Path.GetTempPath(), "no-such-pyodide-" + Guid.NewGuid().ToString("N"));

        await Assert.ThrowsAsync<SandboxAssetException>(() => PythonSandbox.CreateAsync(telemetry.Apply(new SandboxOptions { AssetsPath = folder })));

        var record = Assert.Single(telemetry.Logs, r => r.Id.Name == "AssetVerificationFailed");
        Assert.Equal(3, record.Id.Id);
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Contains(folder, record.Message, StringComparison.Ordinal);
        var start = Assert.Single(starts.GetMeasurementSnapshot());
        Assert.Equal(1, start.Value);
        Assert.Equal("failure", start.Tags["pyodide.start.outcome"]);
    }
}
