using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class ErrorTextTests
{
    [Fact]
    public void Shorten_LongText_KeepsTheStart()
    {
        var text = ErrorText.Shorten(new string('x', 5000));

        Assert.Equal(2003, text.Length);
        Assert.EndsWith("...", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"a\\ud800b\"", "a\ufffdb")]
    [InlineData("\"\\udc00\"", "\ufffd")]
    [InlineData("\"\\ud83d\\ude00\"", "\U0001F600")]
    public void ReplaceLoneSurrogateEscapes_KeepsPairsAndReplacesLoneOnes(string raw, string expected)
    {
        Assert.Equal(expected, ErrorText.ReplaceLoneSurrogateEscapes(raw));
    }
}
