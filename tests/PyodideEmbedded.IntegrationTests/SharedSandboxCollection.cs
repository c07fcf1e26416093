namespace PyodideEmbedded.IntegrationTests;

[CollectionDefinition(nameof(SharedSandboxCollection))]
public sealed class SharedSandboxCollection : ICollectionFixture<SharedSandbox>;
