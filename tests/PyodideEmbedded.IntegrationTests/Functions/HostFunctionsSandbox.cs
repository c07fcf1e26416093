using System.ComponentModel;
using System.Numerics;
using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Functions;

/// <summary>A weather report: a record that crosses into Python as a dict with snake_case keys.</summary>
public sealed record Weather(string City, string Summary, double TemperatureC);

/// <summary>
/// One sandbox granted a set of host functions, shared by the tests that only call them. What the functions saw
/// (a cancelled token, a re-entrant run refused) is recorded here for the tests to check.
/// </summary>
public sealed class HostFunctionsSandbox : IAsyncLifetime
{
    public const int MaxCalls = 50;

    public PythonSandbox Sandbox { get; private set; } = null!;

    /// <summary>Completes when a call's token is cancelled, with how long after the call started.</summary>
    public TaskCompletionSource<bool> TokenCancelled { get; private set; } = NewSignal();

    public TaskCompletionSource<string> ReentryOutcome { get; } = NewSignal<string>();

    public void ResetSignals() => TokenCancelled = NewSignal();

    public static SandboxFunctions Functions(HostFunctionsSandbox? owner) => new SandboxFunctions { MaxCallsPerRun = MaxCalls }
        .Add("add", (long a, long b) => a + b, "Adds two integers.")
        .Add("get_weather", [Description("The weather now in a city.")] async ([Description("The city's name.")] string city, CancellationToken cancellationToken) =>
        {
            await Task.Delay(5, cancellationToken);
            return new Weather(city, "Sunny", 21.5);
        })
        .Add("double_big", (BigInteger n) => n * 2)
        .Add("echo", (JsonElement value) => value)
        .Add("repeat", (string text, int times) => string.Concat(Enumerable.Repeat(text, times)))
        .Add("greet", (string name, string greeting = "Hello") => $"{greeting}, {name}!")
        .Add("nothing", () => { })
        .Add("fail", new Func<long>(() => throw new InvalidOperationException("connection string Server=/srv/secret.db failed")))
        .Add("fail_async", new Func<Task<long>>(async () =>
        {
            await Task.Yield();
            throw new IOException("/home/admin/keys not found");
        }))
        .Add("refuse", new Func<string, string>(city => throw new SandboxFunctionException($"no weather for {city}")))
        .Add("wait_for_cancel", async (CancellationToken cancellationToken) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                owner?.TokenCancelled.TrySetResult(true);
                throw;
            }
        })
        .Add("never_returns", () => new TaskCompletionSource<long>().Task) // ignores every token
        .Add("run_in_same_sandbox", async () =>
        {
            try
            {
                await owner!.Sandbox.RunAsync("1");
                owner.ReentryOutcome.TrySetResult("ran");
            }
            catch (Exception e)
            {
                owner!.ReentryOutcome.TrySetResult(e.GetType().Name);
            }

            return "done";
        });

    public async Task InitializeAsync() =>
        Sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { Functions = Functions(this) });

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();

    private static TaskCompletionSource<bool> NewSignal() => NewSignal<bool>();

    private static TaskCompletionSource<T> NewSignal<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

[CollectionDefinition(nameof(HostFunctionsCollection))]
public sealed class HostFunctionsCollection : ICollectionFixture<HostFunctionsSandbox>;
