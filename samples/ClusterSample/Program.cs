// Two silos and a client, as separate processes on localhost (Orleans localhost clustering):
//   dotnet ClusterSample.dll silo 0     (the primary: silo port 11111, gateway 30000)
//   dotnet ClusterSample.dll silo 1     (silo port 11112, gateway 30001)
//   dotnet ClusterSample.dll client     (connects to both gateways, runs sessions and fresh runs, exits 0 when all is well)
// build/test-cluster-sample.sh starts all three and checks the client's exit code, within a bounded time.
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PyodideEmbedded;
using PyodideEmbedded.Orleans;

const int SiloPort = 11111;
const int GatewayPort = 30000;
var idle = TimeSpan.FromMinutes(5);

if (args is ["silo", var n])
{
    var index = int.Parse(n, System.Globalization.CultureInfo.InvariantCulture);
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.UseOrleans(silo =>
    {
        silo.UseLocalhostClustering(SiloPort + index, GatewayPort + index, new IPEndPoint(IPAddress.Loopback, SiloPort));
        silo.AddPythonSandboxes(new PythonSandboxSiloOptions
        {
            Pool = new SandboxPoolOptions { MinReady = 1, MaxSandboxes = 8, SessionIdleTimeout = idle },
        });
    });
    using var host = builder.Build();
    await host.StartAsync();
    Console.WriteLine($"silo {index} started");
    await host.WaitForShutdownAsync();
    return 0;
}

if (args is ["client"])
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.UseOrleansClient(client => client.UseLocalhostClustering([GatewayPort, GatewayPort + 1]));
    builder.Services.AddPythonSandboxCluster(new SandboxClusterOptions { SessionIdleTimeout = idle });
    using var host = builder.Build();
    await host.StartAsync();
    var sandboxes = host.Services.GetRequiredService<SandboxCluster>();

    // Sessions keep their state between calls, each on one silo.
    for (var i = 0; i < 6; i++)
    {
        await sandboxes.RunInSessionAsync($"user-{i}", $"total = {i}");
    }

    for (var i = 0; i < 6; i++)
    {
        var result = await sandboxes.RunInSessionAsync($"user-{i}", "total += 100\ntotal");
        if (result.SandboxLost || result.Value?.GetInt32() != i + 100)
        {
            Console.Error.WriteLine($"session user-{i}: unexpected {result.Value} {result.Error?.Summary}");
            return 1;
        }

        await sandboxes.EndSessionAsync($"user-{i}");
    }

    // Fresh runs: nothing survives between them.
    for (var i = 0; i < 6; i++)
    {
        var result = await sandboxes.RunAsync("import sys\nsum(range(10)), sys.version_info[0]");
        if (!result.Succeeded || result.Value?[0].GetInt32() != 45)
        {
            Console.Error.WriteLine($"fresh run: unexpected {result.Value} {result.Error?.Summary}");
            return 1;
        }
    }

    var limited = await sandboxes.RunAsync("while True: pass", new RunInputs { Timeout = TimeSpan.FromSeconds(1) });
    if (limited.Limit != SandboxLimit.Time)
    {
        Console.Error.WriteLine($"busy loop: expected the time limit, got {limited.Limit} {limited.Error?.Summary}");
        return 1;
    }

    Console.WriteLine("cluster sample: OK (6 sessions, 6 fresh runs, a time limit)");
    await host.StopAsync();
    return 0;
}

Console.Error.WriteLine("usage: ClusterSample silo <0|1> | client");
return 2;
