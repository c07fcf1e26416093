using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.TestingHost;
using PyodideEmbedded.Orleans;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// The cost of the cluster hop: one caller loops on a session run (<c>x += 1</c>) and on a fresh run (<c>4 + 5</c>),
/// through the local <see cref="SandboxPool"/>, then through <see cref="SandboxCluster"/> on 1 and 2 silos (Orleans
/// TestingHost: silos in this process, the client reaching them over localhost TCP, so every call is serialized and
/// crosses sockets as between machines, without the wire's latency). The figure is the µs per call added to the
/// library's, not scale (one machine, 2 cores: more silos only share them).
/// </summary>
/// <remarks>Usage: <c>--probe-cluster [seconds per measurement]</c> (default 5).</remarks>
internal static class ClusterProbe
{
    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var seconds = args.SkipWhile(a => a != "--probe-cluster").Skip(1).FirstOrDefault() is { } s && int.TryParse(s, out var n) ? n : 5;
        var poolOptions = new SandboxPoolOptions { Sandbox = Workloads.Options, MinReady = 2, MaxSandboxes = 6 };

        await using (var pool = new SandboxPool(poolOptions))
        {
            await pool.WarmUpAsync();
            await MeasureAsync(output, "library (SandboxPool)", seconds,
                code => pool.RunInSessionAsync("bench", code), code => pool.RunAsync(code));
        }

        foreach (short silos in new short[] { 1, 2 })
        {
            var builder = new InProcessTestClusterBuilder(silos);
            builder.Options.ConfigureFileLogging = false; // TestingHost's default writes log files into the working folder
            builder.ConfigureSilo((_, silo) => silo.AddPythonSandboxes(new PythonSandboxSiloOptions { Pool = poolOptions }));
            builder.ConfigureClient(client => client.Services.AddPythonSandboxCluster());
            await using var cluster = builder.Build();
            await cluster.DeployAsync();
            await Task.Delay(TimeSpan.FromSeconds(3)); // the silos' warm-up
            var sandboxes = cluster.Client.ServiceProvider.GetRequiredService<SandboxCluster>();
            await MeasureAsync(output, $"cluster, {silos} silo(s)", seconds,
                code => sandboxes.RunInSessionAsync("bench", code), code => sandboxes.RunAsync(code));
        }
    }

    private static async Task MeasureAsync(TextWriter output, string name, int seconds,
        Func<string, Task<SandboxResult>> session, Func<string, Task<SandboxResult>> fresh)
    {
        (await session("x = 0")).ThrowIfError();
        var sessionRate = await LoopAsync(seconds, () => session("x += 1\nx"));
        for (var i = 0; i < 5; i++)
        {
            (await fresh(Workloads.FourPlusFive)).ThrowIfError(); // warm the path
        }

        var freshRate = await LoopAsync(seconds, () => fresh(Workloads.FourPlusFive));
        output.WriteLine($"{name}: session {sessionRate:F0} runs/s ({1e6 / sessionRate:F0} µs/call), fresh {freshRate:F0} runs/s ({1e6 / freshRate:F0} µs/call)");
    }

    private static async Task<double> LoopAsync(int seconds, Func<Task<SandboxResult>> call)
    {
        var runs = 0;
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        while (clock.Elapsed < until)
        {
            var result = await call();
            if (result.Error is not null)
            {
                throw new InvalidOperationException("A run failed: " + result.Error.Summary);
            }

            runs++;
        }

        return runs / clock.Elapsed.TotalSeconds;
    }
}
