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
