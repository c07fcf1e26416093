using PublicApiGenerator;

namespace PyodideEmbedded.Tests;

/// <summary>The public surface is a contract: a change to it shows up here as a diff to review.</summary>
public sealed class PublicApiTests
{
    [Fact]
    public void PublicApi_MatchesTheApprovedSnapshot()
    {
        var actual = typeof(PythonSandbox).Assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false });
        var approvedPath = Path.Combine(AppContext.BaseDirectory, "PublicApi.approved.txt");
        var approved = File.ReadAllText(approvedPath);

        if (Normalize(actual) != Normalize(approved))
        {
            File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "PublicApi.received.txt"), actual);
        }

        Assert.Equal(Normalize(approved), Normalize(actual));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
}
