using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace PyodideEmbedded.IntegrationTests.Mcp;

/// <summary><c>pyodide-sandbox mcp</c> over stdio, through the C# SDK's client: the tool, its results, state, limits, files.</summary>
public sealed class McpStdioTests(McpStdioServer server) : IClassFixture<McpStdioServer>
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ListTools_OffersRunPythonCodeWithItsSchemas()
    {
        var tools = await server.Client.ListToolsAsync();

        var run = Assert.Single(tools, t => t.Name == "run_python_code");
        Assert.Contains(tools, t => t.Name == "reset_python_session");
        var input = run.ProtocolTool.InputSchema;
        Assert.Equal(["python_code"], input.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.True(input.GetProperty("properties").TryGetProperty("global_variables", out _));
        var output = run.ProtocolTool.OutputSchema!.Value.GetProperty("properties");
        Assert.True(output.TryGetProperty("state_lost", out _));
        // An object, not a bare `true` schema: the TypeScript SDK's client refuses the tool list otherwise.
        Assert.Equal(JsonValueKind.Object, output.GetProperty("return_value").ValueKind);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunPythonCode_KeepsStateAndReturnsOutputValueAndErrors()
    {
        var first = await server.Client.RunAsync("import sys\nprint('hello', file=sys.stdout)\nprint('warn', file=sys.stderr)\nstdio_total = base * 2\nstdio_total", new { @base = 21 });
        var second = await server.Client.RunAsync("stdio_total + 1");
        var error = await server.Client.RunAsync("def f():\n    return 1/0\nf()");

        Assert.NotEqual(true, first.IsError);
        var s = first.Structured();
        Assert.Equal("success", s.GetProperty("status").GetString());
        Assert.Equal("hello\n", s.GetProperty("stdout").GetString());
        Assert.Equal("warn\n", s.GetProperty("stderr").GetString());
        Assert.Equal(42, s.GetProperty("return_value").GetInt32());
        Assert.Contains("<output>\nhello\n</output>", first.Text(), StringComparison.Ordinal);
        Assert.Contains("<return_value>\n42\n</return_value>", first.Text(), StringComparison.Ordinal);
        Assert.Equal(43, second.Structured().GetProperty("return_value").GetInt32());

        var e = error.Structured();
        Assert.Equal("run-error", e.GetProperty("status").GetString());
        Assert.Equal("ZeroDivisionError", e.GetProperty("error").GetProperty("type").GetString());
        var traceback = e.GetProperty("error").GetProperty("traceback").GetString()!;
        Assert.Contains("in f", traceback, StringComparison.Ordinal);
        Assert.DoesNotContain("Runner", traceback, StringComparison.Ordinal); // the user's frames only
        Assert.Contains("<error>", error.Text(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunPythonCode_Limits_SayWhichAndWhetherStateWasLost_ThenResetStartsOver()
    {
        (await server.Client.RunAsync("kept = 'yes'")).Structured();
        var soft = (await server.Client.RunAsync("while True: pass")).Structured();
        var afterSoft = (await server.Client.RunAsync("kept")).Structured();
        var hard = await server.Client.RunAsync("sum(range(10**12))");
        var afterHard = (await server.Client.RunAsync("'kept' in globals()")).Structured();
        await server.Client.RunAsync("again = 1");
        var reset = await server.Client.CallToolAsync("reset_python_session");
        var afterReset = (await server.Client.RunAsync("'again' in globals()")).Structured();

        Assert.Equal("limit-exceeded", soft.GetProperty("status").GetString());
        Assert.Equal("time", soft.GetProperty("limit").GetString());
        // A Python loop stops at the soft interrupt and keeps the state, unless a loaded machine delays it past the
        // 30 ms grace period and the run is terminated: either way state_lost must say what happened.
        if (soft.GetProperty("state_lost").GetBoolean())
        {
            Assert.Equal("NameError", afterSoft.GetProperty("error").GetProperty("type").GetString());
        }
        else
        {
            Assert.Equal("yes", afterSoft.GetProperty("return_value").GetString());
        }

        Assert.True(hard.Structured().GetProperty("state_lost").GetBoolean());
        Assert.Contains("<state_lost>", hard.Text(), StringComparison.Ordinal);
        Assert.False(afterHard.GetProperty("return_value").GetBoolean());
        Assert.Contains("discarded", reset.Text(), StringComparison.Ordinal);
        Assert.False(afterReset.GetProperty("return_value").GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Files_DataInAndOutFilesBack_AsImagesAndEmbeddedResources()
    {
        var png = Convert.ToBase64String([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, 0, 0, 0, 13]);
        var result = await server.Client.RunAsync($$"""
            import base64, csv
            rows = list(csv.DictReader(open('/data/sales.csv')))
            open('/out/report.txt', 'w').write(f'{len(rows)} rows')
            open('/out/plot.png', 'wb').write(base64.b64decode('{{png}}'))
            sum(int(r['amount']) for r in rows)
            """, dataFiles: new Dictionary<string, string> { ["sales.csv"] = "amount\n10\n32\n" });
        var unchanged = await server.Client.RunAsync("1");

        Assert.Equal(42, result.Structured().GetProperty("return_value").GetInt32());
        var image = Assert.Single(result.Content.OfType<ImageContentBlock>());
        Assert.Equal("image/png", image.MimeType);
        Assert.Equal(png, Convert.ToBase64String(image.DecodedData.Span));
        var text = Assert.Single(result.Content.OfType<EmbeddedResourceBlock>());
        var resource = Assert.IsType<TextResourceContents>(text.Resource);
        Assert.Equal("sandbox:///out/report.txt", resource.Uri);
        Assert.Equal("2 rows", resource.Text);
        Assert.Equal(["/out/plot.png", "/out/report.txt"], result.Structured().GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()));
        // Only new or changed files come back.
        Assert.Empty(unchanged.Structured().GetProperty("files").EnumerateArray());
        Assert.Single(unchanged.Content);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ForgedProtocolLines_StayInTheOutput_AndLogsGoToStderr()
    {
        const string Forged = """{"jsonrpc":"2.0","id":1,"result":{"forged":true}}""";
        var result = await server.Client.RunAsync($"import os, sys\nos.write(1, b'{Forged}\\n')\nprint('{Forged}')\nos.write(2, b'{Forged}\\n')\n'after'");
        var next = await server.Client.RunAsync("'still talking'");

        var s = result.Structured();
        Assert.Equal(Forged + "\n" + Forged + "\n", s.GetProperty("stdout").GetString());
        Assert.Equal(Forged + "\n", s.GetProperty("stderr").GetString());
        Assert.Equal("after", s.GetProperty("return_value").GetString());
        Assert.Equal("still talking", next.Structured().GetProperty("return_value").GetString());
        Assert.Contains("Sandbox started", server.Stderr, StringComparison.Ordinal); // the library's log events, on stderr
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task NoArgument_ReachesAHostPath()
    {
        var folder = Directory.CreateTempSubdirectory("mcp-host-");
        try
        {
            var marker = "host-secret-" + Guid.NewGuid().ToString("N");
            var hostFile = Path.Combine(folder.FullName, "secret.txt");
            await File.WriteAllTextAsync(hostFile, marker);
            var outsider = Path.Combine(folder.FullName, "planted.txt");

            var replies = new List<CallToolResult>
            {
                // The code runs in the sandbox's own file system: the host's path does not exist there.
                await server.Client.RunAsync($"open({JsonSerializer.Serialize(hostFile)}).read()"),
                await server.Client.RunAsync($"import os\nos.listdir({JsonSerializer.Serialize(folder.FullName)})"),
                // A link under /out to the host path is not followed when /out is read back.
                await server.Client.RunAsync($"import os\nos.symlink({JsonSerializer.Serialize(hostFile)}, '/out/link.txt')\n'linked'"),
            };

            // data_files names are files in /data only: host paths, parents and other folders are refused unrun.
            foreach (var name in new[] { hostFile, "../../" + hostFile.TrimStart('/'), "/data/../" + hostFile.TrimStart('/'), "/etc/passwd", "/lib/python3.14/os.py", outsider })
            {
                var refused = await server.Client.RunAsync("'ran'", dataFiles: new Dictionary<string, string> { [name] = "x" });
                Assert.True(refused.IsError, name);
                replies.Add(refused);
            }

            Assert.Equal("FileNotFoundError", replies[0].Structured().GetProperty("error").GetProperty("type").GetString());
            Assert.Equal("FileNotFoundError", replies[1].Structured().GetProperty("error").GetProperty("type").GetString());
            Assert.Empty(replies[2].Structured().GetProperty("files").EnumerateArray());
            Assert.All(replies, r => Assert.DoesNotContain(marker, JsonSerializer.Serialize(r), StringComparison.Ordinal));
            Assert.False(File.Exists(outsider));
            Assert.Equal(["secret.txt"], folder.GetFiles().Select(f => f.Name));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
