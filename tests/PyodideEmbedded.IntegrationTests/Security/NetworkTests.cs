using System.Net;
using System.Net.Sockets;
using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 6: no network. Attacks only target 127.0.0.1: a listener of our own proves nothing connects.</summary>
[Collection(SecurityInteropSandboxDefinition.Name)]
public sealed class NetworkTests(InteropSandboxFixture fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    private async Task AssertNoConnectionAsync(Func<int, string> attack)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var code = attack(port);

        var result = await RunAttackAsync(_sandbox, code);

        Assert.False(listener.Pending(), $"NETWORK ESCAPE: the sandbox connected to 127.0.0.1:{port}.\nPayload:\n{code}");
        AssertRefused(result, code);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SocketCreateConnection_ToLoopback_Fails() =>
        await AssertNoConnectionAsync(port => $"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SocketCreateConnection_ToLoopbackPort80_Fails()
    {
        const string code = "import socket\nsocket.create_connection(('127.0.0.1', 80), timeout=2)";
        var result = await RunAttackAsync(_sandbox, code);
        AssertRefused(result, code);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task UrllibUrlopen_ToLoopback_Fails() =>
        await AssertNoConnectionAsync(port => $"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2).read()");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Pyfetch_ToLoopback_Fails() =>
        await AssertNoConnectionAsync(port => $"import pyodide.http\n(await pyodide.http.pyfetch('http://127.0.0.1:{port}/')).status");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsFetchXhrWebSocket_ToLoopback_Fail() =>
        await AssertNoConnectionAsync(port => $$"""
            import js
            outcomes = []
            for expr in ["fetch('http://127.0.0.1:{{port}}/')", "new XMLHttpRequest().open('GET', 'http://127.0.0.1:{{port}}/')",
                         "new WebSocket('ws://127.0.0.1:{{port}}/')", "new EventSource('http://127.0.0.1:{{port}}/')",
                         "import('http://127.0.0.1:{{port}}/x.mjs')"]:
                try:
                    r = js.eval(expr)
                    if hasattr(r, 'then'):
                        await r
                    outcomes.append('CONNECTED ' + expr)
                except Exception:
                    pass
            def no_network():
                raise OSError('no network')
            outcomes if outcomes else no_network()
            """);
}
