namespace PyodideEmbedded.IntegrationTests;

internal static class TestOptions
{
    /// <summary>Defaults, with a time limit generous enough for a loaded 2-core CI machine.</summary>
    public static SandboxOptions Default { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Hard cap for any single test that runs Python, so a broken interrupt fails one test instead of hanging CI.</summary>
    public const int TestTimeoutMs = 120_000;
}
