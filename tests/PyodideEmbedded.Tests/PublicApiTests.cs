using PublicApiGenerator;

namespace PyodideEmbedded.Tests;

/// <summary>The public surface is a contract: a change to it shows up here as a diff to review.</summary>
public sealed class PublicApiTests
{
    [Theory]
    [InlineData("PyodideEmbedded", "PublicApi")]
    [InlineData("PyodideEmbedded.Extensions", "PublicApi.Extensions")]
    public void PublicApi_MatchesTheApprovedSnapshot(string assembly, string snapshot)
    {
        var actual = System.Reflection.Assembly.Load(assembly).GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
            AllowNamespacePrefixes = ["Microsoft.Extensions.DependencyInjection"], // where DI extension methods live by convention
        });
        var approvedPath = Path.Combine(AppContext.BaseDirectory, snapshot + ".approved.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath) : "";

        if (Normalize(actual) != Normalize(approved))
        {
            File.WriteAllText(Path.Combine(AppContext.BaseDirectory, snapshot + ".received.txt"), actual);
        }

        Assert.Equal(Normalize(approved), Normalize(actual));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
}
