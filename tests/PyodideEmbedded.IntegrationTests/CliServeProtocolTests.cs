namespace PyodideEmbedded.IntegrationTests;

/// <summary><c>serve</c>'s request fields beyond the seed's: <c>id</c>, <c>timeout_ms</c>, and the typed <c>limit</c> in replies.</summary>
public sealed class CliServeProtocolTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_TimeoutMsInARequest_LimitsThatRunOnly()
    {
        await using var cli = CliProcess.Start("serve", "--timeout-ms", "10000");

        var stopped = await cli.RequestAsync("""{"id": 1, "code": "while True: pass", "timeout_ms": 300}""");
        var next = await cli.RequestAsync("""{"id": "two", "code": "import time\ntime.sleep(0.5)\n'slept'"}""");

        Assert.Equal(1, stopped.GetProperty("id").GetInt32());
        Assert.Equal("TimeoutError", stopped.GetProperty("error_type").GetString());
        Assert.Equal("time", stopped.GetProperty("limit").GetString());
        Assert.Contains("300 ms", stopped.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("two", next.GetProperty("id").GetString());
        Assert.Equal("slept", next.GetProperty("output").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_LimitField_NamesTheLimitAndOnlyALimit()
    {
        await using var cli = CliProcess.Start("serve", "--memory-mb", "128", "--max-code-bytes", "1024");

        var memory = await cli.RunCodeAsync("x = bytearray(1 << 30)");
        var ownMemoryError = await cli.RunCodeAsync("raise MemoryError('mine')");
        var tooLarge = await cli.RunCodeAsync(new string('#', 2000));

        Assert.Equal("memory", memory.GetProperty("limit").GetString());
        Assert.Equal("MemoryError", memory.GetProperty("error_type").GetString());
        Assert.Equal("MemoryError", ownMemoryError.GetProperty("error_type").GetString());
        Assert.False(ownMemoryError.TryGetProperty("limit", out _), ownMemoryError.GetRawText());
        Assert.Equal("code_size", tooLarge.GetProperty("limit").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_MalformedShutdownLines_AreRefusedAndTheServerGoesOn()
    {
        await using var cli = CliProcess.Start("serve");

        foreach (var line in new[]
        {
            """{"shutdown": true, "code": 5}""",
            """{"shutdown": true, "globals": []}""",
            """{"shutdown": true, "timeout_ms": 0}""",
            """{"shutdown": true, "extra": 1}""",
            """{"shutdown": "yes"}""",
        })
        {
            var refused = await cli.RequestAsync(line);
            Assert.Equal("InvalidRequest", refused.GetProperty("error_type").GetString());
        }

        Assert.Equal(2, (await cli.RunCodeAsync("1 + 1")).GetProperty("output").GetInt32());
    }
}
