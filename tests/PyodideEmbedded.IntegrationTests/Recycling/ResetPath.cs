namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>Which way <see cref="PythonSandbox.ResetAsync"/> went.</summary>
public enum ResetPath
{
    InPlace,
    NewIsolate,
}
