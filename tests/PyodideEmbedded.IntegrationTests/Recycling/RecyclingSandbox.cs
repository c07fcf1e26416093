using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// A sandbox for the recycling corpus, with the log that says why a reset could not be done in place (so a failed
/// path assertion names what tenant A reached).
/// </summary>
public sealed class RecyclingSandbox : IAsyncDisposable
{
    private readonly FakeLoggerProvider _logs;
    private readonly ILoggerFactory _factory;

    private RecyclingSandbox(PythonSandbox sandbox, FakeLoggerProvider logs, ILoggerFactory factory)
    {
        Sandbox = sandbox;
        _logs = logs;
        _factory = factory;
    }

    public PythonSandbox Sandbox { get; }

    public static async Task<RecyclingSandbox> CreateAsync(SandboxOptions options)
    {
        var logs = new FakeLoggerProvider();
        var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var sandbox = await PythonSandbox.CreateAsync(options with { LoggerFactory = factory });
        return new RecyclingSandbox(sandbox, logs, factory);
    }

    /// <summary>The sandbox's internal reset counters.</summary>
    public static (int InPlace, int NewIsolate) ResetsOf(PythonSandbox sandbox) => sandbox.Resets;

    public (int InPlace, int NewIsolate) Resets => ResetsOf(Sandbox);

    /// <summary>Why the last reset was refused in place, from the sandbox's log (or "none logged").</summary>
    public string LastRefusal() =>
        _logs.Collector.GetSnapshot().LastOrDefault(r => r.Id.Name == "ResetInPlaceRefused")?.Message ?? "none logged";

    /// <summary>A reset with no expectation: puts the shared sandbox in a known state before a test.</summary>
    public Task CleanAsync() => Sandbox.ResetAsync();

    /// <summary>Resets and asserts which way it went.</summary>
    public async Task ResetAsync(ResetPath expected)
    {
        _logs.Collector.Clear();
        var before = Resets;
        await Sandbox.ResetAsync();
        var after = Resets;
        var path = after.InPlace == before.InPlace + 1 && after.NewIsolate == before.NewIsolate ? ResetPath.InPlace
            : after.NewIsolate == before.NewIsolate + 1 && after.InPlace == before.InPlace ? ResetPath.NewIsolate
            : throw new Xunit.Sdk.XunitException($"Reset counters moved oddly: {before} -> {after}");
        Assert.True(path == expected, $"Expected the reset {expected}, it went {path}. Refused in place because: {LastRefusal()}");
        Assert.False(Sandbox.IsFaulted);
    }

    /// <summary>Runs code that must succeed and returns its value.</summary>
    public async Task<JsonElement> ValueAsync(string code, RunInputs? inputs = null)
    {
        var result = await Sandbox.RunAsync(code, inputs);
        Assert.True(result.Succeeded, $"Expected success, got {result.Error?.Summary}\n{result.Error?.Traceback}\nCode:\n{code}");
        return result.Value ?? default;
    }

    /// <summary>Runs tenant A's code, which must succeed (a poison that failed to land proves nothing).</summary>
    public async Task<SandboxResult> PoisonAsync(string code, RunInputs? inputs = null)
    {
        var result = await Sandbox.RunAsync(code, inputs);
        Assert.True(result.Succeeded, $"Tenant A's poison failed: {result.Error?.Summary}\n{result.Error?.Traceback}\nCode:\n{code}");
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await Sandbox.DisposeAsync();
        _factory.Dispose();
        _logs.Dispose();
    }
}
