using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using PyodideEmbedded.Orleans.Internal;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>Multi-silo clusters in this process (Orleans.TestingHost), each silo with its own small pool.</summary>
internal static class TestClusters
{
    /// <summary>The longest any single call may take before a test fails instead of hanging.</summary>
    public static readonly TimeSpan CallBound = TimeSpan.FromSeconds(40);

    /// <summary>Starts <paramref name="silos"/> silos with <paramref name="pool"/> each, and a client whose grain call
    /// timeout is <paramref name="clientResponseTimeout"/> (default 2 minutes). With <paramref name="sessionStorage"/>,
    /// the silos keep session markers in a <see cref="SharedGrainStorage"/> of that name, which outlives any silo.
    /// <paramref name="maxMessageBytes"/> is both sides' MaxMessageBytes.</summary>
    public static async Task<InProcessTestCluster> StartAsync(
        short silos, SandboxPoolOptions pool, TimeSpan? clientResponseTimeout = null, string? sessionStorage = null, long? maxMessageBytes = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false; // TestingHost's default writes log files into the working folder
        builder.ConfigureSilo((_, silo) =>
        {
            if (sessionStorage is not null)
            {
                silo.Services.AddKeyedSingleton<IGrainStorage>(sessionStorage, (_, _) => new SharedGrainStorage());
            }

            silo.AddPythonSandboxes(new PythonSandboxSiloOptions
            {
                Pool = pool,
                LoadReportInterval = TimeSpan.FromMilliseconds(250),
                SessionStorageName = sessionStorage,
                MaxMessageBytes = maxMessageBytes ?? PythonSandboxSiloOptions.DefaultMaxMessageBytes,
            });
        });
        builder.ConfigureClient(client => client.Services.AddPythonSandboxCluster(new SandboxClusterOptions
        {
            SessionIdleTimeout = pool.SessionIdleTimeout,
            ResponseTimeout = clientResponseTimeout ?? TimeSpan.FromMinutes(2),
            MaxMessageBytes = maxMessageBytes ?? PythonSandboxSiloOptions.DefaultMaxMessageBytes,
            Sandbox = pool.Sandbox,
        }));
        var cluster = builder.Build();
        await cluster.DeployAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return cluster;
    }

    public static SandboxCluster Sandboxes(this InProcessTestCluster cluster) =>
        cluster.Client.ServiceProvider.GetRequiredService<SandboxCluster>();

    public static Task<string> SiloOfAsync(this InProcessTestCluster cluster, string sessionId) =>
        cluster.Client.GetGrain<ISandboxSessionGrain>(sessionId).GetSiloAsync().WaitAsync(CallBound);

    public static LocalSandboxes Local(this InProcessSiloHandle silo) =>
        silo.ServiceProvider.GetRequiredService<LocalSandboxes>();
}
