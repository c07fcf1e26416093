namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>One recycling sandbox with the default options (no JS interop), shared by a test class.</summary>
public sealed class DefaultRecyclingFixture : IAsyncLifetime
{
    public RecyclingSandbox Tenant { get; private set; } = null!;

    public async Task InitializeAsync() => Tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default);

    public async Task DisposeAsync() => await Tenant.DisposeAsync();
}
