namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>The escape tests' own <see cref="SharedSandbox"/> (default options, interop off), for attacks that only read state.</summary>
[CollectionDefinition(Name)]
public sealed class SecurityDefaultSandboxDefinition : ICollectionFixture<SharedSandbox>
{
    public const string Name = "Security: shared default sandbox";
}
