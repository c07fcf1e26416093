using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace PyodideEmbedded.IntegrationTests.Mcp;

/// <summary>The built <c>pyodide-sandbox mcp</c> over stdio, driven by the C# SDK's client (one server for the class).</summary>
public sealed class McpStdioServer : IAsyncLifetime
{
    private readonly List<string> _stderr = [];

    public McpClient Client { get; private set; } = null!;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return string.Join('\n', _stderr);
            }
        }
    }

    public async Task InitializeAsync()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "pyodide-sandbox",
            Command = "dotnet",
            Arguments = [CliProcess.Dll, "mcp", "--timeout-ms", "3000", "--max-sessions", "2"],
            StandardErrorLines = line =>
            {
                lock (_stderr)
                {
                    _stderr.Add(line);
                }
            },
        });
        Client = await McpClient.CreateAsync(transport);
    }

    public async Task DisposeAsync() => await Client.DisposeAsync();
}

/// <summary>
/// The built <c>pyodide-sandbox mcp --http</c> on a free loopback port, with a bearer token from an environment
/// variable; clients are the C# SDK's, each its own MCP session.
/// </summary>
public sealed partial class McpHttpServer : IAsyncLifetime
{
    public const string TokenVariable = "PYODIDE_MCP_TEST_TOKEN";

    private Process _process = null!;
    private readonly List<string> _stderr = [];

    public string Token { get; } = Convert.ToHexString(Guid.NewGuid().ToByteArray()) + Convert.ToHexString(Guid.NewGuid().ToByteArray());

    public Uri Endpoint { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in new[] { CliProcess.Dll, "mcp", "--http", "--urls", "http://127.0.0.1:0", "--auth-token-env", TokenVariable, "--timeout-ms", "3000", "--max-sessions", "3", "--max-code-bytes", "65536", "--max-file-bytes", "1048576" })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment[TokenVariable] = Token;
        var found = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = Process.Start(info)!;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                found.TrySetException(new InvalidOperationException("the server exited: " + string.Join('\n', _stderr)));
                return;
            }

            lock (_stderr)
            {
                _stderr.Add(e.Data);
            }

            if (EndpointLine().Match(e.Data) is { Success: true } match)
            {
                found.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        _process.BeginErrorReadLine();
        Endpoint = await found.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async Task<McpClient> ConnectAsync(string? token = null) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = Endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + (token ?? Token) },
        }));

    public async Task DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    [GeneratedRegex(@"MCP endpoint at (http://127\.0\.0\.1:\d+/mcp)")]
    private static partial Regex EndpointLine();
}

internal static class McpResults
{
    public static Task<CallToolResult> RunAsync(this McpClient client, string code, object? globals = null, object? dataFiles = null)
    {
        var arguments = new Dictionary<string, object?> { ["python_code"] = code };
        if (globals is not null)
        {
            arguments["global_variables"] = globals;
        }

        if (dataFiles is not null)
        {
            arguments["data_files"] = dataFiles;
        }

        return client.CallToolAsync("run_python_code", arguments).AsTask();
    }

    public static JsonElement Structured(this CallToolResult result) => result.StructuredContent ?? throw new InvalidOperationException("no structured content");

    public static string Text(this CallToolResult result) => string.Join('\n', result.Content.OfType<TextContentBlock>().Select(t => t.Text));
}
