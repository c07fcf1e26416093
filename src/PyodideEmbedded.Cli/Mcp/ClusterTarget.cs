using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using PyodideEmbedded.Orleans;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// The Orleans cluster that <c>pyodide-sandbox mcp --cluster</c> runs its sandboxes on: the gateways this server, an
/// Orleans client, connects to, the cluster's ids, and what it declares about the silos' sandboxes.
/// </summary>
/// <param name="Gateways">The gateways' addresses (host names resolved when the flags were checked).</param>
/// <param name="Text">The <c>--cluster</c> value as given, for messages.</param>
/// <param name="ClusterId">Orleans' <see cref="ClusterOptions.ClusterId"/>.</param>
/// <param name="ServiceId">Orleans' <see cref="ClusterOptions.ServiceId"/>.</param>
/// <param name="Options">The silos' sandbox options and session idle timeout, as the flags declare them.</param>
internal sealed record ClusterTarget(IPEndPoint[] Gateways, string Text, string ClusterId, string ServiceId, SandboxClusterOptions Options)
{
    /// <summary>How long the start keeps trying to reach a gateway before the server gives up.</summary>
    public static readonly TimeSpan ConnectFor = TimeSpan.FromSeconds(30);

    // Between two attempts to reach the cluster at start.
    private static readonly TimeSpan s_retryDelay = TimeSpan.FromSeconds(1);

    private volatile bool _connected;

    /// <summary>Whether the start reached the cluster (<see cref="MarkConnected"/>); until then the failed attempts are
    /// not logged one by one.</summary>
    public bool Connected => _connected;

    /// <summary>Records that the start reached the cluster: from here on Orleans' connection warnings are logged.</summary>
    public void MarkConnected() => _connected = true;

    /// <summary>Reads <c>--cluster</c>: <c>host:port</c> entries separated by ';' or ','. Host names are resolved here,
    /// once: Orleans' static gateway list holds addresses.</summary>
    /// <returns>The gateways, or a problem naming the entry that is not one.</returns>
    public static (IPEndPoint[]? Gateways, string? Problem) ParseGateways(string value)
    {
        var entries = value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
        {
            return (null, "--cluster needs at least one gateway as host:port, for example 127.0.0.1:30000;127.0.0.1:30001.");
        }

        var gateways = new List<IPEndPoint>();
        foreach (var entry in entries)
        {
            // The URI parser reads host names, IPv4 and bracketed IPv6 literals and the port; anything more (a path,
            // a user, a query) is not a gateway.
            if (!Uri.TryCreate("tcp://" + entry, UriKind.Absolute, out var uri) || uri.Port is < 1 or > 65535
                || uri.PathAndQuery != "/" || uri.UserInfo.Length > 0 || uri.Fragment.Length > 0
                || uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6 or UriHostNameType.Dns))
            {
                return (null, $"--cluster: '{entry}' is not a gateway as host:port with a port from 1 to 65535 (for example 127.0.0.1:30000).");
            }

            if (IPAddress.TryParse(uri.IdnHost, out var address))
            {
                gateways.Add(new IPEndPoint(address, uri.Port));
                continue;
            }

            try
            {
                // One address per host: a name with both an IPv4 and an IPv6 address is one gateway, not two.
                var addresses = Dns.GetHostAddresses(uri.IdnHost);
                var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
                if (chosen is null)
                {
                    return (null, $"--cluster: '{entry}': the host name has no address.");
                }

                gateways.Add(new IPEndPoint(chosen, uri.Port));
            }
            catch (SocketException e)
            {
                return (null, $"--cluster: '{entry}': the host name does not resolve ({e.Message}).");
            }
        }

        return ([.. gateways], null);
    }

    /// <summary>Makes the services an Orleans client of the cluster, with a <see cref="SandboxCluster"/> as their
    /// <see cref="ISandboxRunner"/>.</summary>
    public void AddTo(IServiceCollection services)
    {
        var sinceStart = Stopwatch.StartNew();
        services.AddOrleansClient(client => client
            .UseStaticClustering(Gateways)
            .Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = ClusterId;
                cluster.ServiceId = ServiceId;
            })
            // Bounded: gateways that come up a little after this server are still found, and a cluster out of reach
            // ends the start within ConnectFor (the server then says so and exits) instead of hanging.
            .UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                if (sinceStart.Elapsed + s_retryDelay > ConnectFor)
                {
                    return false;
                }

                await Task.Delay(s_retryDelay, cancellationToken).ConfigureAwait(false);
                return true;
            }));
        services.AddPythonSandboxCluster(Options);
    }
}
