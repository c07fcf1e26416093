using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// Who may reach the HTTP endpoint. On loopback without a token: local clients only, and no browser page of another
/// origin (a DNS-rebinding page would send its own Origin). With a bearer token: every request must carry it.
/// Binding to anything but loopback is refused unless a token is configured (<see cref="McpCommand"/>).
/// </summary>
internal sealed class HttpGuard(string? bearerToken)
{
    private readonly byte[]? _tokenHash = bearerToken is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(bearerToken));

    /// <summary>Whether a <c>--urls</c> entry binds to loopback only (<c>localhost</c>, 127.0.0.0/8, <c>[::1]</c>).
    /// Wildcards (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>) and names are not.</summary>
    public static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        && (uri.Host == "localhost" || (IPAddress.TryParse(uri.Host, out var address) && IPAddress.IsLoopback(address)));

    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (_tokenHash is not null)
        {
            var header = context.Request.Headers.Authorization.ToString();
            var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? SHA256.HashData(Encoding.UTF8.GetBytes(header[7..].Trim())) : null;
            if (given is null || !CryptographicOperations.FixedTimeEquals(given, _tokenHash))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                return;
            }
        }
        else if (context.Request.Headers.Origin is { Count: > 0 } origin && !IsLoopback(origin.ToString()))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        await next().ConfigureAwait(false);
    }
}
