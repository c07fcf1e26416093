namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>One booted sandbox with JS interop on, for attacks that only read state.</summary>
public sealed class InteropSandboxFixture : IAsyncLifetime
{
    public PythonSandbox Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() => Sandbox = await PythonSandbox.CreateAsync(EscapeAssert.Interop);

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}
