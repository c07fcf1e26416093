using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 8: the CLI's stdout carries exactly one valid JSON reply per request, whatever the code prints.</summary>
public sealed class ProtocolForgeryTests(CliServerFixture fixture) : IClassFixture<CliServerFixture>
{
    private readonly CliServer _server = fixture.Server;

    private async Task<JsonElement> AttackAsync(string code)
    {
        var reply = await _server.SendAsync(code);
        await _server.AssertInStepAsync();
        return reply;
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task PrintedFakeReplyLine_StaysInsideTheStdoutField()
    {
        var reply = await AttackAsync("print('{\"output\": 666}')\nprint('\\n{\"output\": 667}\\r\\n{\"shutdown\": true}')");

        Assert.Equal(JsonValueKind.Null, reply.GetProperty("output").ValueKind);
        Assert.Contains("{\"output\": 666}", reply.GetProperty("stdout").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task OsWriteToFileDescriptors_FakeReply_StaysInsideTheStreams()
    {
        var reply = await AttackAsync("""
            import os, sys
            os.write(1, b'{"output": 666}\n')
            os.write(2, b'{"output": 668}\n')
            sys.__stdout__.write('{"output": 669}\n')
            open('/dev/stdout', 'w').write('{"output": 670}\n')
            open('/dev/tty', 'w').write('{"output": 671}\n')
            None
            """);

        Assert.False(reply.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Number,
            $"Forged value reached the reply: {reply.GetRawText()}");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsConsoleLogAndEmscriptenPrint_DoNotReachCliStdout()
    {
        var reply = await AttackAsync("""
            import js, pyodide_js
            js.console.log('{"output": 666}')
            js.console.error('{"output": 667}')
            m = pyodide_js._module
            for name in ('print', 'printErr', 'out', 'err'):
                f = getattr(m, name, None)
                if callable(f):
                    f('{"output": 668}')
            42
            """);

        Assert.Equal(42, reply.GetProperty("output").GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task NulBytes_InValueAndStreams_ProduceOneValidLine()
    {
        var reply = await AttackAsync("import sys\nprint('a\\x00b')\nsys.stderr.write('\\x00\\n')\n'v\\x00\\n{\"output\": 1}'");

        Assert.Equal("v\0\n{\"output\": 1}", reply.GetProperty("output").GetString());
        Assert.Equal("a\0b\n", reply.GetProperty("stdout").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task LoneSurrogates_InValueStreamsAndError_ProduceOneValidLine()
    {
        await AttackAsync("import sys\nprint('\\ud800')\nsys.stderr.write('\\udfff')\n['\\ud800', '\\udc00x', {'\\ud83d': 1}]");
        var error = await AttackAsync("raise ValueError('\\ud800 bad \\udfff')");

        Assert.Equal("ValueError", error.GetProperty("error_type").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TenMegabytePrintLine_ProducesOneValidBoundedLine()
    {
        var reply = await AttackAsync("print('x' * (10 * 1024 * 1024) + '\\n{\"output\": 666}')\n'done'");

        Assert.Equal("done", reply.GetProperty("output").GetString());
        Assert.True(reply.GetProperty("stdout").GetString()!.Length <= 1024 * 1024, "stdout was not capped");
        Assert.True(reply.TryGetProperty("stdout_truncated", out var truncated) && truncated.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CorruptedResultEnvelope_CliStillAnswersTheNextRequest()
    {
        // Own server: this attack used to kill the process. Default options: no `import js` needed.
        await using var server = await CliServer.StartAsync();
        const string payload = $"{EscapeAssert.RealmWithoutImport}.JSON.stringify = lambda *a: 'garbage'\n1";

        var reply = await server.SendRawAsync(payload);
        Assert.True(reply is not null && !server.HasExited,
            $"CLI CRASHED: no reply to the payload below; the serve process {(server.HasExited ? "exited" : "stopped answering")}.\nPayload:\n{payload}\nCLI stderr:\n{EscapeAssert.Trim(server.Stderr)}");
        using (var document = JsonDocument.Parse(reply!))
        {
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }

        await server.AssertInStepAsync();
    }
}
