using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace PyodideEmbedded.IntegrationTests.Mcp;

/// <summary>
/// <c>pyodide-sandbox mcp --http</c> through the C# SDK's client: a sandbox per MCP session, the bearer token, the
/// request size cap, and the refusal to bind beyond loopback without a token.
/// </summary>
public sealed class McpHttpTests(McpHttpServer server) : IClassFixture<McpHttpServer>
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TwoSessions_NeverSeeEachOthersVariables()
    {
        await using var alice = await server.ConnectAsync();
        await using var bob = await server.ConnectAsync();

        await alice.RunAsync("secret = 'alice-only'");
        var bobSees = (await bob.RunAsync("'secret' in globals()")).Structured();
        await bob.RunAsync("secret = 'bob'");
        var aliceSees = (await alice.RunAsync("secret")).Structured();

        Assert.False(bobSees.GetProperty("return_value").GetBoolean());
        Assert.Equal("alice-only", aliceSees.GetProperty("return_value").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EndedSessions_FreeTheirSandboxes()
    {
        // The server allows 3 sessions with a sandbox; 5 in turn each get one at once only if an ended session
        // (the client's DELETE) frees its sandbox: otherwise the 4th would wait 30 s and be refused.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
        {
            await using var client = await server.ConnectAsync();
            var result = (await client.RunAsync($"'session {i}'")).Structured();
            Assert.Equal($"session {i}", result.GetProperty("return_value").GetString());
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"took {clock.Elapsed}");
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Requests_WithoutTheToken_AreRefused()
    {
        using var http = new HttpClient();
        using var noToken = await http.PostAsync(server.Endpoint, Initialize());
        using var request = new HttpRequestMessage(HttpMethod.Post, server.Endpoint) { Content = Initialize() };
        // One character off (a token ending in 0 once made "+ 0" the token itself: 1 run in 16 failed).
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token[..^1] + (server.Token[^1] == '0' ? "1" : "0"));
        using var wrongToken = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => server.ConnectAsync(token: "not-the-token-" + new string('x', 32)));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Requests_OverTheSizeCap_AreRefusedUnread()
    {
        using var http = new HttpClient();
        // The cap follows the limits (here 64 KiB of code, 1 MiB of files: about 2.5 MiB): 8 MiB is past it.
        using var huge = new HttpRequestMessage(HttpMethod.Post, server.Endpoint) { Content = new ByteArrayContent(new byte[8 * 1024 * 1024]) };
        huge.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        huge.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        huge.Headers.Accept.ParseAdd("application/json, text/event-stream");

        HttpStatusCode? status = null;
        try
        {
            using var response = await http.SendAsync(huge);
            status = response.StatusCode;
        }
        catch (HttpRequestException)
        {
            // Kestrel may close the connection while the body is still being sent: refused as well.
        }

        Assert.True(status is null or HttpStatusCode.RequestEntityTooLarge, $"status {status}");
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://*:3001")]
    [InlineData("http://127.0.0.1:0;http://example.com:80")]
    public async Task Http_BeyondLoopbackWithoutAToken_IsRefusedBeforeAnythingStarts(string urls)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("mcp", "--http", "--urls", urls);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.Contains("is not a loopback address", stderr, StringComparison.Ordinal);
        Assert.Contains("--auth-token-env", stderr, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("--urls", "http://127.0.0.1:3001")]
    [InlineData("--auth-token-env", "SOME_VARIABLE")]
    [InlineData("--max-sessions", "0")]
    public async Task Stdio_WithHttpOnlyFlagsOrOutOfRange_IsAUsageError(string flag, string value)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("mcp", flag, value);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.Contains(flag, stderr, StringComparison.Ordinal);
    }

    private static StringContent Initialize() => new(
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""",
        Encoding.UTF8, "application/json");
}
