namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// One booted sandbox shared by the tests of a collection that only read state or use names of
/// their own. Tests that change limits, break, or check isolation make their own sandbox.
/// </summary>
public sealed class SharedSandbox : IAsyncLifetime
{
    public PythonSandbox Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() => Sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

[CollectionDefinition(nameof(SharedSandboxCollection))]
public sealed class SharedSandboxCollection : ICollectionFixture<SharedSandbox>;

internal static class TestOptions
{
    /// <summary>Defaults, with a time limit generous enough for a loaded 2-core CI machine.</summary>
    public static SandboxOptions Default { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Hard cap for any single test that runs Python, so a broken interrupt fails one test instead of hanging CI.</summary>
    public const int TestTimeoutMs = 120_000;
}
