using System.Text.Json;

namespace PyodideEmbedded.Tests;

/// <summary>What a model receives from <see cref="PythonTool"/>: compact JSON within the cap, cut where it matters least.</summary>
public sealed class ToolResultTests
{
    [Fact]
    public void Compact_SmallResult_KeepsEverything()
    {
        var result = new SandboxResult { Stdout = "hi\n", Value = JsonDocument.Parse("[1, 2]").RootElement };

        var json = ToolResult.Compact(result, PythonTool.DefaultMaxResultChars);

        Assert.Equal("""{"status":"success","stdout":"hi\n","return_value":[1,2]}""", json.GetRawText());
    }

    [Fact]
    public void Compact_Traceback_IsReadableJson()
    {
        var result = new SandboxResult { Error = new PythonError("KeyError", "'a'", "KeyError: 'a'", "  File \"<exec>\", line 1, in <module>\nKeyError: 'a'\n") };

        var json = ToolResult.Compact(result, PythonTool.DefaultMaxResultChars);

        Assert.Contains("in <module>", json.GetRawText(), StringComparison.Ordinal); // not \u003Cmodule\u003E
    }

    [Theory]
    [InlineData("x", 1024)]
    [InlineData("\n", 1024)]        // each newline is two characters of JSON
    [InlineData("\u0001", 4096)]    // each control character is six
    [InlineData("\"", 16384)]
    public void Compact_HugeOutputAndTraceback_StaysUnderTheCap_KeepingTheTracebacksEnd(string unit, int cap)
    {
        var traceback = string.Concat(Enumerable.Repeat(unit, 50_000)) + "ZeroDivisionError: division by zero\n";
        var result = new SandboxResult
        {
            Stdout = string.Concat(Enumerable.Repeat(unit, 100_000)),
            Stderr = string.Concat(Enumerable.Repeat(unit, 100_000)),
            Error = new PythonError("ZeroDivisionError", "division by zero", "ZeroDivisionError: division by zero", traceback),
            Limit = SandboxLimit.Time,
            SandboxLost = true,
        };

        var json = ToolResult.Compact(result, cap);

        Assert.InRange(json.GetRawText().Length, 1, cap);
        Assert.EndsWith("ZeroDivisionError: division by zero\n", json.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("limit-exceeded", json.GetProperty("status").GetString());
        Assert.Equal("time", json.GetProperty("limit").GetString());
        Assert.True(json.TryGetProperty("state_lost", out _));
    }

    [Fact]
    public void Describe_TellsTheModelWhatTheSandboxHas()
    {
        var text = PythonTool.Describe(new SandboxOptions { Timeout = TimeSpan.FromSeconds(3), PackagesPath = "/p", Packages = ["attrs"] }, persistent: true);

        Assert.Contains("Python 3.14", text, StringComparison.Ordinal);
        Assert.Contains("attrs", text, StringComparison.Ordinal);
        Assert.Contains("3 s per call", text, StringComparison.Ordinal);
        Assert.Contains("256 MiB", text, StringComparison.Ordinal);
        Assert.Contains("persist", text, StringComparison.Ordinal);
        Assert.Contains("numpy", text, StringComparison.Ordinal);
    }
}
