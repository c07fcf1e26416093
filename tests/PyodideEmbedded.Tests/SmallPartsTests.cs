using System.Text;
using PyodideEmbedded.Cli;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class LockedModuleLoaderTests
{
    [Theory]
    [InlineData("/pyodide/pyodide.mjs", "pyodide.mjs")]
    [InlineData("file:///pyodide/pyodide.asm.mjs", "pyodide.asm.mjs")]
    [InlineData("/pyodide/../etc/passwd", null)]
    [InlineData("/pyodide/..", null)]
    [InlineData("/etc/passwd", null)]
    [InlineData("file:///etc/passwd", null)]
    [InlineData("https://example.com/pyodide/x.mjs", null)]
    [InlineData("/pyodide/pyodide.asm.wasm", null)]
    [InlineData("/pyodide/sub/x.mjs", null)]
    [InlineData("node:child_process", null)]
    public void ResolveName_OnlyPlainModuleNamesUnderThePrefix(string specifier, string? expected)
    {
        Assert.Equal(expected, LockedModuleLoader.ResolveName(specifier, "/pyodide/"));
    }
}

public sealed class SandboxOptionsTests
{
    public static TheoryData<SandboxOptions> Invalid => new()
    {
        new SandboxOptions { Timeout = TimeSpan.Zero },
        new SandboxOptions { Timeout = Timeout.InfiniteTimeSpan },
        new SandboxOptions { Timeout = TimeSpan.FromDays(2) },
        new SandboxOptions { MemoryLimitBytes = 1024 },
        new SandboxOptions { MemoryLimitBytes = 8L << 30 },
        new SandboxOptions { JsHeapLimitBytes = 0 },
        new SandboxOptions { MaxOutputBytes = -1 },
        new SandboxOptions { MaxCodeBytes = 0 },
        new SandboxOptions { InterruptGracePeriod = TimeSpan.Zero },
        new SandboxOptions { AssetsPath = " " },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_OutOfRange_Throws(SandboxOptions options)
    {
        Assert.ThrowsAny<ArgumentException>(options.Validate);
    }

    [Fact]
    public void Validate_Defaults_AreAccepted()
    {
        new SandboxOptions().Validate();
    }

    [Fact]
    public async Task CreateAsync_InvalidOptions_ThrowsBeforeBooting()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => PythonSandbox.CreateAsync(new SandboxOptions { Timeout = TimeSpan.Zero }));
    }
}

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

public sealed class ExitCodesTests
{
    [Fact]
    public void For_MapsEachOutcome()
    {
        Assert.Equal(0, ExitCodes.For(new SandboxResult()));
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("ValueError", "x", "ValueError: x", "") }));
        Assert.Equal(124, ExitCodes.For(new SandboxResult { Error = new PythonError("TimeoutError", "t", "", ""), Limit = SandboxLimit.Time }));
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("TimeoutError", "raised by user code", "", "") }));
        Assert.Equal(137, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", ""), Limit = SandboxLimit.Memory }));
        Assert.Equal(137, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", ""), Limit = SandboxLimit.JsHeap }));
        // `raise MemoryError` in the code is the code's own error, not the memory limit.
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", "") }));
        Assert.Equal(2, ExitCodes.For(new SandboxResult { Error = new PythonError("ValueError", "", "", ""), Limit = SandboxLimit.CodeSize }));
        Assert.Equal(5, ExitCodes.For(new SandboxResult { Error = new PythonError("SystemError", "", "", ""), Limit = SandboxLimit.EngineFailure }));
    }
}
