using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>A <c>pyodide-sandbox serve</c> child process (<see cref="CliProcess"/>) with checks for attacks on the protocol.</summary>
internal sealed class CliServer : IAsyncDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);
    private readonly CliProcess _cli;

    private CliServer(CliProcess cli) => _cli = cli;

    public string Stderr => _cli.Stderr;

    public bool HasExited => _cli.HasExited;

    public static async Task<CliServer> StartAsync(params string[] extraArgs)
    {
        Assert.True(File.Exists(CliProcess.Dll), $"CLI not found at {CliProcess.Dll}");
        string[] timeout = extraArgs.Contains("--timeout-ms") ? [] : ["--timeout-ms", "30000"];
        var server = new CliServer(CliProcess.Start(["serve", .. timeout, .. extraArgs]));
        // Warm up: the first reply proves the sandbox booted.
        var warm = await server.SendAsync("'ready'");
        Assert.Equal("ready", warm.GetProperty("output").GetString());
        return server;
    }

    /// <summary>Sends one request; returns the one reply line it produced, parsed. Fails when no valid JSON line arrives.</summary>
    public async Task<JsonElement> SendAsync(string code)
    {
        var line = await SendRawAsync(code);
        Assert.True(line is not null, $"CLI sent no reply (exited: {_cli.HasExited}).\nPayload:\n{code}\nCLI stderr:\n{EscapeAssert.Trim(Stderr)}");
        try
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            Assert.Fail($"CLI reply is not one valid JSON object: {e.Message}\nLine: {EscapeAssert.Trim(line!)}\nPayload:\n{code}");
            throw;
        }
    }

    public async Task<string?> SendRawAsync(string code)
    {
        try
        {
            await _cli.SendLineAsync(JsonSerializer.Serialize(new { code }));
        }
        catch (IOException)
        {
            return null; // the server is gone
        }

        return await _cli.ReadLineAsync().WaitAsync(ReplyTimeout);
    }

    /// <summary>Proves the stream is in step: a sentinel request gets exactly its own reply next.</summary>
    public async Task AssertInStepAsync()
    {
        var marker = "sentinel-" + Guid.NewGuid().ToString("N");
        var reply = await SendAsync($"'{marker}'");
        Assert.True(reply.TryGetProperty("output", out var output) && output.GetString() == marker,
            $"The reply stream is out of step: expected the sentinel reply, got {reply.GetRawText()}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_cli.HasExited)
            {
                await _cli.SendLineAsync("{\"shutdown\": true}");
                _cli.CloseInput();
                await _cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            // DisposeAsync below kills whatever is left.
        }
        finally
        {
            await _cli.DisposeAsync();
        }
    }
}
