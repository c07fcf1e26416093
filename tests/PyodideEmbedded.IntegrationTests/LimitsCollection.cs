namespace PyodideEmbedded.IntegrationTests;

[CollectionDefinition(nameof(LimitsCollection), DisableParallelization = true)]
public sealed class LimitsCollection;
