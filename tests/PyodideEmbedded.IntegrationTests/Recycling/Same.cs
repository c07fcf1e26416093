using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>Helpers to compare what tenant B sees with what a clean sandbox sees.</summary>
internal static class Same
{
    public static void Json(JsonElement expected, JsonElement actual, string what) =>
        Assert.True(JsonElement.DeepEquals(expected, actual), $"{what}: tenant B sees {actual.GetRawText()}, a clean sandbox {expected.GetRawText()}");

    /// <summary>The value equals the JSON text (spacing aside).</summary>
    public static void Json(string expected, JsonElement actual)
    {
        using var document = JsonDocument.Parse(expected);
        Assert.True(JsonElement.DeepEquals(document.RootElement, actual), $"Expected {expected}, got {actual.GetRawText()}");
    }
}
