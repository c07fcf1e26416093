using Orleans.TestingHost;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>Two silos shared by the tests of <see cref="SandboxClusterTests"/>: short time limit and idle timeout.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(3);

    internal InProcessTestCluster Cluster { get; private set; } = null!;

    internal SandboxCluster Sandboxes => Cluster.Sandboxes();

    public async Task InitializeAsync() => Cluster = await TestClusters.StartAsync(2, new SandboxPoolOptions
    {
        MinReady = 1,
        MaxSandboxes = 6,
        SessionIdleTimeout = IdleTimeout,
        Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(2) },
    });

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
