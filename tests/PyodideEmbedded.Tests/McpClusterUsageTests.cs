using System.Net;
using PyodideEmbedded.Cli;
using PyodideEmbedded.Cli.Mcp;

namespace PyodideEmbedded.Tests;

/// <summary>
/// <c>pyodide-sandbox mcp --cluster</c>'s flags, checked in-process as the command does before anything starts: no
/// sandbox and no cluster connection is made here (gateways are IP literals, so nothing is resolved either).
/// </summary>
public sealed class McpClusterUsageTests
{
    private readonly McpCommand _mcp = new(new CliCommands(), new LimitOptions());

    [Theory]
    [InlineData("127.0.0.1:99999")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1")]
    [InlineData("silo-host")]
    [InlineData("silo-host:-1")]
    [InlineData("silo-host:30000/path")]
    [InlineData("user@silo-host:30000")]
    public void Check_BadGateway_NamesTheEntry(string entry)
    {
        var problem = Problem("--cluster", $"127.0.0.1:30000;{entry}");

        Assert.Equal($"--cluster: '{entry}' is not a gateway as host:port with a port from 1 to 65535 (for example 127.0.0.1:30000).", problem);
    }

    [Theory]
    [InlineData(";")]
    [InlineData(" , ")]
    public void Check_NoGateway_IsRefused(string value)
    {
        Assert.StartsWith("--cluster needs at least one gateway", Problem("--cluster", value), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MaxSessionsWithCluster_IsRefused()
    {
        var problem = Problem("--cluster", "127.0.0.1:30000", "--max-sessions", "4");

        Assert.Equal("--max-sessions applies to a local pool only: with --cluster, the silos' pools decide how many sessions run at once.", problem);
    }

    [Theory]
    [InlineData("--cluster-id")]
    [InlineData("--service-id")]
    public void Check_ClusterIdsWithoutCluster_AreRefused(string flag)
    {
        Assert.Equal("--cluster-id and --service-id apply to --cluster only (without it the sandboxes are a local pool).", Problem(flag, "prod"));
    }

    [Fact]
    public void Check_Cluster_ReadsGatewaysIdsAndTheDeclaredLimits()
    {
        var (options, cluster, _, problem) = _mcp.Check(_mcp.Command.Parse(
            ["--http", "--cluster", "127.0.0.1:30000, [::1]:30001", "--cluster-id", "c1", "--service-id", "s1", "--session-idle-minutes", "5", "--timeout-ms", "3000"]));

        Assert.Null(problem);
        Assert.NotNull(options);
        Assert.NotNull(cluster);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 30000), new IPEndPoint(IPAddress.IPv6Loopback, 30001)], cluster.Gateways);
        Assert.Equal(("c1", "s1"), (cluster.ClusterId, cluster.ServiceId));
        Assert.Equal(TimeSpan.FromMinutes(5), cluster.Options.SessionIdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), cluster.Options.Sandbox.Timeout);
    }

    [Fact]
    public void Check_LongDeclaredTimeLimit_RaisesTheClientsCallTimeout()
    {
        var (_, cluster, _, problem) = _mcp.Check(_mcp.Command.Parse(["--cluster", "127.0.0.1:30000", "--timeout-ms", "600000"]));

        Assert.Null(problem);
        Assert.True(cluster!.Options.ResponseTimeout > TimeSpan.FromMinutes(10), cluster.Options.ResponseTimeout.ToString());
    }

    [Fact]
    public void Check_WithoutCluster_IsALocalPoolAsBefore()
    {
        var (options, cluster, _, problem) = _mcp.Check(_mcp.Command.Parse(["--max-sessions", "4"]));

        Assert.Null(problem);
        Assert.Null(cluster);
        Assert.Equal(5, options!.MaxSandboxes);
    }

    private string? Problem(params string[] args) => _mcp.Check(_mcp.Command.Parse(args)).Problem;
}
