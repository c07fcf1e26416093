namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>One recycling sandbox with JS interop on (the widest reach), shared by a test class.</summary>
public sealed class InteropRecyclingFixture : IAsyncLifetime
{
    public RecyclingSandbox Tenant { get; private set; } = null!;

    public async Task InitializeAsync() => Tenant = await RecyclingSandbox.CreateAsync(TestOptions.Default with { AllowJsInterop = true });

    public async Task DisposeAsync() => await Tenant.DisposeAsync();
}
