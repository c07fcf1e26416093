using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>The <c>pyodide-sandbox serve</c> JSON-lines protocol and <c>run</c>, through the real executable.</summary>
public sealed class CliTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_SeedProtocol_AnswersEachLineInOrder()
    {
        await using var cli = CliProcess.Start("serve");

        var nine = await cli.RequestAsync("""{"code": "x = 4\nx + 5"}""");
        var eight = await cli.RequestAsync("""{"code": "x * 2"}""");
        var error = await cli.RequestAsync("""{"code": "1/0"}""");
        var invalid = await cli.RequestAsync("not json");
        var notObject = await cli.RequestAsync("[1, 2]");
        var noCode = await cli.RequestAsync("""{"cod": "1"}""");
        var bigInt = await cli.RequestAsync("""{"code": "2**64"}""");
        var printed = await cli.RequestAsync("""{"code": "print('hi')"}""");
        await cli.SendLineAsync("""{"shutdown": true}""");

        Assert.Equal(9, nine.GetProperty("output").GetInt32());
        Assert.Equal(8, eight.GetProperty("output").GetInt32());
        Assert.Equal("ZeroDivisionError: division by zero", error.GetProperty("error").GetString());
        Assert.StartsWith("InvalidRequest: the line is not valid JSON", invalid.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("InvalidRequest: a request is a JSON object, not an array", notObject.GetProperty("error").GetString());
        Assert.Equal("InvalidRequest", notObject.GetProperty("error_type").GetString());
        Assert.StartsWith("InvalidRequest: unknown field \"cod\"", noCode.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("18446744073709551616", bigInt.GetProperty("output").GetRawText());
        Assert.Equal(JsonValueKind.Null, printed.GetProperty("output").ValueKind);
        Assert.Equal("hi\n", printed.GetProperty("stdout").GetString());
        Assert.Equal(0, await cli.WaitForExitAsync());
        Assert.Equal("", await cli.ReadRestAsync());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_EndOfInput_ExitsCleanly()
    {
        await using var cli = CliProcess.Start("serve");
        Assert.Equal(2, (await cli.RunCodeAsync("1 + 1")).GetProperty("output").GetInt32());

        cli.CloseInput();

        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_PythonTriesToForgeReplies_StdoutCarriesOnlyRealReplies()
    {
        await using var cli = CliProcess.Start("serve");

        var forged = await cli.RunCodeAsync(
            "import os, sys\nprint('{\"output\": 666}')\nos.write(1, b'{\"output\": 667}\\n')\nsys.__stdout__.write('{\"output\": 668}\\n')\n"
            + "print('\\x00 nul')\nprint('z' * 10_000_000)\n'real'");
        var loneSurrogate = await cli.RunCodeAsync("'lone \\ud800'");
        var next = await cli.RunCodeAsync("1 + 1");

        Assert.Equal("real", forged.GetProperty("output").GetString());
        Assert.Contains("lone", loneSurrogate.GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.Contains("{\"output\": 666}", forged.GetProperty("stdout").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, next.GetProperty("output").GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_TooLongLine_IsRefusedAndTheNextIsAnswered()
    {
        // Lines may also carry files in base64: no files here, so the line limit is the code limit's.
        await using var cli = CliProcess.Start("serve", "--max-code-bytes", "1024", "--max-file-bytes", "0");

        var huge = await cli.RequestAsync("{\"code\": \"" + new string('1', 100_000) + "\"}");
        var next = await cli.RunCodeAsync("3 * 3");

        Assert.Contains("exceeds", huge.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(9, next.GetProperty("output").GetInt32());
    }

    [Fact(Timeout = 300_000)]
    public async Task Serve_FiftyMixedRunawaysAndNormalRuns_AlwaysAnswersAndMemoryStaysBounded()
    {
        await using var cli = CliProcess.Start("serve", "--timeout-ms", "300", "--memory-mb", "128");
        await cli.RunCodeAsync("1");
        long? rssAfterWarmUp = null;

        for (var i = 0; i < 50; i++)
        {
            switch (i % 5)
            {
                case 0:
                    Assert.Equal("TimeoutError", (await cli.RunCodeAsync("while True: pass")).GetProperty("error_type").GetString());
                    break;
                case 1:
                    Assert.Equal("MemoryError", (await cli.RunCodeAsync("x = bytearray(1 << 30)")).GetProperty("error_type").GetString());
                    break;
                case 2:
                    Assert.Equal("TimeoutError", (await cli.RunCodeAsync("sum(range(10**12))")).GetProperty("error_type").GetString());
                    break;
                default:
                    Assert.Equal(i * 2, (await cli.RunCodeAsync($"{i} * 2")).GetProperty("output").GetInt32());
                    break;
            }

            if (i == 9)
            {
                rssAfterWarmUp = cli.WorkingSetBytes;
            }
        }

        var rssAtEnd = cli.WorkingSetBytes;
        Assert.Equal(4, (await cli.RunCodeAsync("2 + 2")).GetProperty("output").GetInt32());
        // Each replaced sandbox must be freed: growth is bounded by a couple of sandboxes' worth.
        Assert.InRange(rssAtEnd - rssAfterWarmUp!.Value, long.MinValue, 400L * 1024 * 1024);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_AfterASandboxIsLost_ReplySaysSoAndStateIsFresh()
    {
        await using var cli = CliProcess.Start("serve", "--timeout-ms", "300");
        await cli.RunCodeAsync("kept = 1");

        var stopped = await cli.RunCodeAsync("sum(range(10**12))");
        var after = await cli.RunCodeAsync("'kept' in globals()");

        Assert.True(stopped.GetProperty("state_lost").GetBoolean());
        Assert.False(after.GetProperty("output").GetBoolean());
        Assert.Contains("discarded", cli.Stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_AfterASandboxIsLost_ASpareAnswersTheNextRequestAtOnce()
    {
        await using var cli = CliProcess.Start("serve", "--timeout-ms", "300", "--spares", "1");
        await cli.RunCodeAsync("1");
        await Task.Delay(TimeSpan.FromSeconds(5)); // the spare starts in the background meanwhile

        await cli.RunCodeAsync("sum(range(10**12))");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var after = await cli.RunCodeAsync("4 + 5");
        clock.Stop();

        // Starting a sandbox takes ~0.5 s or more here; a spare answers in milliseconds. The bound is
        // the feature, so it is generous for a loaded machine but well below a start.
        Assert.Equal(9, after.GetProperty("output").GetInt32());
        Assert.InRange(clock.ElapsedMilliseconds, 0, 300);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_Expression_PrintsOutputAndValue()
    {
        var (exitCode, stdout, _) = await CliProcess.RunToEndAsync("run", "print('hello')\n4 + 5");

        Assert.Equal(0, exitCode);
        Assert.Equal("hello\n9\n", stdout);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_PythonError_ExitsOneWithTracebackOnStderr()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "1/0");

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        Assert.Contains("ZeroDivisionError: division by zero", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_Timeout_Exits124()
    {
        var (exitCode, _, stderr) = await CliProcess.RunToEndAsync("run", "--timeout-ms", "300", "while True: pass");

        Assert.Equal(124, exitCode);
        Assert.Contains("TimeoutError", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_InvalidLimit_ExitsTwo()
    {
        var (exitCode, _, stderr) = await CliProcess.RunToEndAsync("run", "--timeout-ms", "0", "1");

        Assert.Equal(2, exitCode);
        Assert.Contains("--timeout-ms", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_MissingAssets_ExitsThreeNamingTheFile()
    {
        var empty = Directory.CreateTempSubdirectory();
        try
        {
            var (exitCode, _, stderr) = await CliProcess.RunToEndAsync("run", "--assets", empty.FullName, "1");

            Assert.Equal(3, exitCode);
            Assert.Contains("manifest.sha256", stderr, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }
}
