using PublicApiGenerator;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>The package's public surface is a contract: a change to it shows up here as a diff to review.</summary>
public sealed class PublicApiTests
{
    [Fact]
    public void PublicApi_MatchesTheApprovedSnapshot()
    {
        var actual = typeof(SandboxCluster).Assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
            AllowNamespacePrefixes = ["Microsoft.Extensions.Hosting"], // where the silo and client registrations live
        });
        var approvedPath = Path.Combine(AppContext.BaseDirectory, "PublicApi.Orleans.approved.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath) : "";
        if (Normalize(actual) != Normalize(approved))
        {
            File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "PublicApi.Orleans.received.txt"), actual);
        }

        Assert.Equal(Normalize(approved), Normalize(actual));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
}
