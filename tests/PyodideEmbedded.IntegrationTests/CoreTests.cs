using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>Values, output capture and errors, on one shared sandbox (each test uses its own names).</summary>
[Collection(nameof(SharedSandboxCollection))]
public sealed class CoreTests(SharedSandbox shared)
{
    private PythonSandbox Sandbox => shared.Sandbox;

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_LastExpression_ReturnsItsValueAsJson()
    {
        var result = await Sandbox.RunAsync("core_x = 4\ncore_x + 5");

        Assert.True(result.Succeeded);
        Assert.Equal(9, result.Value!.Value.GetInt32());
        Assert.False(result.ValueIsRepr);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_StatePersists_BetweenRuns()
    {
        await Sandbox.RunAsync("state_y = 21");
        var result = await Sandbox.RunAsync("state_y * 2");

        Assert.Equal(42, result.Value!.Value.GetInt32());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("2**64", "18446744073709551616")]
    [InlineData("10**30", "1000000000000000000000000000000")]
    [InlineData("-(2**100)", "-1267650600228229401496703205376")]
    [InlineData("0.1", "0.1")]
    [InlineData("'héllo ✓'", "\"héllo ✓\"")]
    [InlineData("True", "true")]
    [InlineData("(1, [2, 3])", "[1,[2,3]]")]
    [InlineData("{'a': {'b': [None, 1.5]}}", "{\"a\":{\"b\":[null,1.5]}}")]
    public async Task RunAsync_JsonValue_RoundTripsExactly(string expression, string expectedJson)
    {
        var result = await Sandbox.RunAsync(expression);

        Assert.False(result.ValueIsRepr);
        Assert.Equal(Normalize(expectedJson), Normalize(result.Value!.Value.GetRawText()));
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("{1, 2}", "{1, 2}")]
    [InlineData("{1: 'a'}", "{1: 'a'}")]
    [InlineData("float('nan')", "nan")]
    [InlineData("b'xy'", "b'xy'")]
    [InlineData("type('C', (), {'__repr__': lambda s: 'C!'})()", "C!")]
    public async Task RunAsync_ValueJsonCannotHold_ComesBackAsRepr(string expression, string expectedRepr)
    {
        var result = await Sandbox.RunAsync(expression);

        Assert.True(result.Succeeded);
        Assert.True(result.ValueIsRepr);
        Assert.Equal(expectedRepr, result.Value!.Value.GetString());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("None")]
    [InlineData("none_z = 1")]
    [InlineData("def none_f(): pass")]
    [InlineData("1 + 1;")]
    [InlineData("")]
    public async Task RunAsync_NoValue_ReturnsNull(string code)
    {
        var result = await Sandbox.RunAsync(code);

        Assert.True(result.Succeeded);
        Assert.Null(result.Value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_PythonException_IsReportedAsDataWithUserFramesOnly()
    {
        var result = await Sandbox.RunAsync("def err_f():\n    return 1/0\nerr_f()");

        Assert.False(result.Succeeded);
        var error = result.Error!;
        Assert.Equal("ZeroDivisionError", error.TypeName);
        Assert.Equal("division by zero", error.Message);
        Assert.Equal("ZeroDivisionError: division by zero", error.Summary);
        Assert.Contains("line 3, in <module>", error.Traceback, StringComparison.Ordinal);
        Assert.Contains("line 2, in err_f", error.Traceback, StringComparison.Ordinal);
        Assert.DoesNotContain("pyodide", error.Traceback, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<PythonException>(() => result.ThrowIfError());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_SyntaxError_IsReportedWithoutSandboxFrames()
    {
        var result = await Sandbox.RunAsync("print('a'");

        Assert.Equal("SyntaxError", result.Error!.TypeName);
        Assert.DoesNotContain("ast.py", result.Error.Traceback, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_Print_IsCapturedPerRunAndSeparately()
    {
        var first = await Sandbox.RunAsync("import sys\nprint('out', 1)\nprint('err', file=sys.stderr)\nimport os\nos.write(1, b'raw\\n')\n'v'");
        var second = await Sandbox.RunAsync("print('again')");

        Assert.Equal("out 1\nraw\n", first.Stdout);
        Assert.Equal("err\n", first.Stderr);
        Assert.Equal("v", first.Value!.Value.GetString());
        Assert.Equal("again\n", second.Stdout);
        Assert.Equal("", second.Stderr);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_PrintWithoutNewline_IsFlushedAtTheEnd()
    {
        var result = await Sandbox.RunAsync("print('partial', end='')");

        Assert.Equal("partial", result.Stdout);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_SystemExit_EndsTheRunOnly()
    {
        var result = await Sandbox.RunAsync("import sys\nsys.exit(3)");
        var after = await Sandbox.RunAsync("1 + 1");

        Assert.Equal("SystemExit", result.Error!.TypeName);
        Assert.Equal(2, after.Value!.Value.GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_TopLevelAwait_RunsOnTheEventLoop()
    {
        var result = await Sandbox.RunAsync(
            "import asyncio, time\nstart = time.monotonic()\nawait asyncio.gather(asyncio.sleep(0.2), asyncio.sleep(0.2))\nround(time.monotonic() - start, 1)");

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.InRange(result.Value!.Value.GetDouble(), 0.2, 1.0); // the two sleeps overlap
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_TimeSleep_SleepsForTheRequestedTime()
    {
        var result = await Sandbox.RunAsync("import time\nstart = time.monotonic()\ntime.sleep(0.2)\ntime.monotonic() - start");

        Assert.InRange(result.Value!.Value.GetDouble(), 0.195, 2.0);
        Assert.Equal("ValueError", (await Sandbox.RunAsync("import time\ntime.sleep(-1)")).Error!.TypeName);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_StandardLibrary_IsAvailable()
    {
        var result = await Sandbox.RunAsync("import json, re, collections, decimal, fractions, datetime\nstr(decimal.Decimal(1) / 7)[:5]");

        Assert.Equal("0.142", result.Value!.Value.GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_FromManyThreads_QueuesAndAnswersEach()
    {
        var runs = Enumerable.Range(0, 16).Select(i => Task.Run(() => Sandbox.RunAsync($"{i} * 3")));

        var results = await Task.WhenAll(runs);

        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * 3), results.Select(r => r.Value!.Value.GetInt32()));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_NullCode_Throws()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(() => Sandbox.RunAsync(null!));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PyodideVersion_IsThePinnedOne()
    {
        Assert.Equal("314.0.7", Sandbox.PyodideVersion);
        var result = await Sandbox.RunAsync("import sys\nsys.version_info[:2]");
        Assert.Equal("[3,14]", Normalize(result.Value!.Value.GetRawText()));
    }

    private static string Normalize(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);
}
