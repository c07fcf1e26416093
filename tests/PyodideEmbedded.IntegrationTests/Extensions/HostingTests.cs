using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace PyodideEmbedded.IntegrationTests.Extensions;

/// <summary><c>AddPythonSandboxPool</c> in a real host: options from configuration or code, validated at start-up, the
/// pool warmed by a hosted service, logging through the host, a health check, and disposal with the host.</summary>
public sealed class HostingTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FromConfiguration_WarmsUp_IsHealthy_LogsThroughTheHost_AndIsDisposedWithIt()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PythonSandbox:MinReady"] = "1",
            ["PythonSandbox:MaxSandboxes"] = "3",
            ["PythonSandbox:SessionIdleTimeout"] = "00:02:00",
            ["PythonSandbox:Sandbox:Timeout"] = "00:00:20",
            ["PythonSandbox:Sandbox:MemoryLimitBytes"] = "134217728",
        });
        var logs = new FakeLoggerProvider();
        builder.Logging.AddProvider(logs);
        builder.Services.AddPythonSandboxPool(builder.Configuration.GetSection("PythonSandbox"));
        builder.Services.AddHealthChecks().AddPythonSandboxPool();
        SandboxPool pool;
        using (var host = builder.Build())
        {
            pool = host.Services.GetRequiredService<SandboxPool>();
            var health = host.Services.GetRequiredService<HealthCheckService>();
            Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync()).Status); // not started yet

            await host.StartAsync();
            var report = await health.CheckHealthAsync();
            for (var i = 0; i < 600 && report.Status != HealthStatus.Healthy; i++)
            {
                await Task.Delay(100);
                report = await health.CheckHealthAsync();
            }

            Assert.Equal(HealthStatus.Healthy, report.Status);
            Assert.Equal(1, report.Entries["python-sandbox"].Data["ready"]);
            Assert.Equal(1, pool.Options.MinReady);
            Assert.Equal(3, pool.Options.MaxSandboxes);
            Assert.Equal(TimeSpan.FromMinutes(2), pool.Options.SessionIdleTimeout);
            Assert.Equal(TimeSpan.FromSeconds(20), pool.Options.Sandbox.Timeout);
            Assert.Equal(128L * 1024 * 1024, pool.Options.Sandbox.MemoryLimitBytes);
            Assert.Equal(9, (await pool.RunAsync("4 + 5")).Value!.Value.GetInt32());
            Assert.Contains(logs.Collector.GetSnapshot(), r => r.Id.Name == "SandboxStarted" && r.Category == "PyodideEmbedded");

            await host.StopAsync();
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.RunAsync("1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Delegate_ReplacesTheOptions_OverConfiguration()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["MinReady"] = "0", ["MaxSandboxes"] = "5" }).Build();
        services.AddPythonSandboxPool(configuration);
        services.AddPythonSandboxPool(o => o with { MaxSandboxes = o.MaxSandboxes + 1, Sandbox = o.Sandbox with { Timeout = TimeSpan.FromMilliseconds(1500) } });
        await using var provider = services.BuildServiceProvider();

        var pool = provider.GetRequiredService<SandboxPool>();

        Assert.Equal(0, pool.Options.MinReady);
        Assert.Equal(6, pool.Options.MaxSandboxes);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), pool.Options.Sandbox.Timeout);
        Assert.Single(provider.GetServices<IHostedService>());
        // Integrations written against the interface get the same pool.
        Assert.Same(pool, provider.GetRequiredService<ISandboxRunner>());
        Assert.Equal(TimeSpan.FromMilliseconds(1500), provider.GetRequiredService<ISandboxRunner>().SandboxOptions.Timeout);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HealthCheck_SandboxesThatCannotStart_AreUnhealthy()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-pyodide-" + Guid.NewGuid().ToString("N"));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPythonSandboxPool(o => o with { MinReady = 1, Sandbox = o.Sandbox with { AssetsPath = missing } });
        builder.Services.AddHealthChecks().AddPythonSandboxPool();
        using var host = builder.Build();
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        var report = await health.CheckHealthAsync();
        for (var i = 0; i < 100 && report.Status == HealthStatus.Degraded; i++)
        {
            await Task.Delay(100);
            report = await health.CheckHealthAsync();
        }

        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.IsType<SandboxAssetException>(report.Entries["python-sandbox"].Exception);
        await host.StopAsync();
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("MaxSandboxes", "0", "MaxSandboxes")]
    [InlineData("Sandbox:Timeout", "-00:00:01", "Timeout")]
    [InlineData("MinRedy", "2", "MinRedy")]
    public async Task BadOptions_StopTheHostAtStart(string key, string value, string named)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["PythonSandbox:" + key] = value });
        builder.Services.AddPythonSandboxPool(builder.Configuration.GetSection("PythonSandbox"));
        using var host = builder.Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.True(e is OptionsValidationException or InvalidOperationException, e.GetType().Name);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }
}
