namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>One <c>pyodide-sandbox serve</c> process (interop on) shared by the forgery attacks.</summary>
public sealed class CliServerFixture : IAsyncLifetime
{
    internal CliServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await CliServer.StartAsync("--allow-js-interop");

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
