namespace PyodideEmbedded.IntegrationTests.Security;

[CollectionDefinition(Name)]
public sealed class SecurityInteropSandboxDefinition : ICollectionFixture<InteropSandboxFixture>
{
    public const string Name = "Security: shared interop sandbox";
}
