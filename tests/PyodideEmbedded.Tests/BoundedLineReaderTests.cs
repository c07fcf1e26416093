using System.Text;
using PyodideEmbedded.Cli;

namespace PyodideEmbedded.Tests;

public sealed class BoundedLineReaderTests
{
    [Fact]
    public async Task ReadLineAsync_SplitsLinesAndStripsCarriageReturns()
    {
        var reader = Reader("one\r\ntwo\nthree");

        Assert.Equal("one", Text(await reader.ReadLineAsync(default)));
        Assert.Equal("two", Text(await reader.ReadLineAsync(default)));
        Assert.Equal("three", Text(await reader.ReadLineAsync(default)));
        Assert.Null(await reader.ReadLineAsync(default));
    }

    [Fact]
    public async Task ReadLineAsync_TooLongLine_IsSkippedAndReported()
    {
        var reader = Reader(new string('x', 200_000) + "\nnext\n", maxLineBytes: 1000);

        var first = (await reader.ReadLineAsync(default))!.Value;
        var second = (await reader.ReadLineAsync(default))!.Value;

        Assert.True(first.TooLong);
        Assert.Equal("", Text(first));
        Assert.Equal("next", Text(second));
    }

    [Fact]
    public async Task ReadLineAsync_MultiByteText_IsKeptByteForByte()
    {
        var reader = Reader("héllo ✓\n");

        Assert.Equal("héllo ✓", Text(await reader.ReadLineAsync(default)));
    }

    [Fact]
    public async Task ReadLineAsync_InvalidUtf8_IsHandedOnUndecoded()
    {
        var reader = new BoundedLineReader(new MemoryStream([0xff, 0xfe, (byte)'\n', (byte)'a']), 1000);

        Assert.Equal(new byte[] { 0xff, 0xfe }, (await reader.ReadLineAsync(default))!.Value.Bytes.ToArray());
        Assert.Equal("a", Text(await reader.ReadLineAsync(default)));
    }

    [Fact]
    public async Task ReadLineAsync_ByteOrderMark_IsDroppedAtTheStartOfTheStreamOnly()
    {
        var reader = Reader("\uFEFF{}\n\uFEFF{}\n");

        Assert.Equal("{}", Text(await reader.ReadLineAsync(default)));
        Assert.Equal("\uFEFF{}", Text(await reader.ReadLineAsync(default)));
    }

    [Theory]
    [InlineData("", true)]
    [InlineData(" \t\r", true)]
    [InlineData(" x ", false)]
    public async Task Line_IsBlank_OnlyForJsonWhitespace(string text, bool blank)
    {
        var line = await Reader(text + "\n").ReadLineAsync(default);

        Assert.Equal(blank, line!.Value.IsBlank);
    }

    private static string Text(BoundedLineReader.Line? line) => Encoding.UTF8.GetString(line!.Value.Bytes.Span);

    private static BoundedLineReader Reader(string text, int maxLineBytes = 1 << 20) =>
        new(new MemoryStream(Encoding.UTF8.GetBytes(text)), maxLineBytes);
}
