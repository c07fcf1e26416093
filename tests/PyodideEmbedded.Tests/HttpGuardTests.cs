using Microsoft.AspNetCore.Http;
using PyodideEmbedded.Cli.Mcp;

namespace PyodideEmbedded.Tests;

/// <summary>Who may reach <c>pyodide-sandbox mcp --http</c>: loopback binds, the bearer token, and other origins.</summary>
public sealed class HttpGuardTests
{
    [Theory]
    [InlineData("http://127.0.0.1:3001", true)]
    [InlineData("http://127.0.0.2:80", true)]
    [InlineData("http://localhost:0", true)]
    [InlineData("http://[::1]:3001", true)]
    [InlineData("http://0.0.0.0:3001", false)]
    [InlineData("http://*:3001", false)]
    [InlineData("http://+:3001", false)]
    [InlineData("http://[::]:3001", false)]
    [InlineData("http://192.168.1.2:3001", false)]
    [InlineData("http://localhost.example.com:3001", false)]
    [InlineData("ftp://127.0.0.1", false)]
    public void IsLoopback_OnlyForLoopbackAddresses(string url, bool expected) => Assert.Equal(expected, HttpGuard.IsLoopback(url));

    [Theory]
    [InlineData(null, null, 200)]
    [InlineData("http://localhost:5173", null, 200)]
    [InlineData("https://evil.example", null, 403)]
    [InlineData(null, "Bearer right-token", 200)]
    public async Task Loopback_WithoutToken_RefusesOtherOrigins(string? origin, string? authorization, int expected)
    {
        Assert.Equal(expected, await StatusAsync(new HttpGuard(null), origin, authorization));
    }

    [Theory]
    [InlineData(null, 401)]
    [InlineData("Bearer wrong-token", 401)]
    [InlineData("Bearer right-tokenX", 401)]
    [InlineData("Basic right-token", 401)]
    [InlineData("Bearer right-token", 200)]
    public async Task WithToken_EveryRequestMustCarryIt(string? authorization, int expected)
    {
        Assert.Equal(expected, await StatusAsync(new HttpGuard("right-token"), "https://any.example", authorization));
    }

    private static async Task<int> StatusAsync(HttpGuard guard, string? origin, string? authorization)
    {
        var context = new DefaultHttpContext();
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        await guard.InvokeAsync(context, () =>
        {
            context.Response.StatusCode = 200;
            return Task.CompletedTask;
        });
        return context.Response.StatusCode;
    }
}
