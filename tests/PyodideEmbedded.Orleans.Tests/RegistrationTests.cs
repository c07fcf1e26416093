using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using PyodideEmbedded.Orleans.Internal;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>The client's registration and the cluster's options, without a cluster: configuration, validation, and the
/// <see cref="ISandboxRunner"/> that integrations get.</summary>
public sealed class RegistrationTests
{
    [Fact]
    public async Task FromConfiguration_TheClusterIsTheRunner_WithTheDeclaredLimits_AndTheClientTimeout()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ResponseTimeout"] = "00:03:00",
            ["SessionIdleTimeout"] = "00:05:00",
            ["Sandbox:Timeout"] = "00:00:30",
            ["Sandbox:MemoryLimitBytes"] = "134217728",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton(NoGrains());
        services.AddPythonSandboxCluster(configuration);
        await using var provider = services.BuildServiceProvider();

        var runner = provider.GetRequiredService<ISandboxRunner>();
        Assert.Same(provider.GetRequiredService<SandboxCluster>(), runner);
        Assert.Equal(TimeSpan.FromSeconds(30), runner.SandboxOptions.Timeout);
        Assert.Equal(128L * 1024 * 1024, runner.SandboxOptions.MemoryLimitBytes);
        Assert.Equal(TimeSpan.FromMinutes(3), provider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ResponseTimeout);
    }

    [Fact]
    public void ConfigurationKey_ThatNamesNoOption_IsRefused()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ResponseTimout"] = "00:03:00" }).Build();
        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddPythonSandboxCluster(configuration));
        Assert.Contains("ResponseTimout", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(120, 120, 10, 2)] // the time limit is not under the call timeout: a long run would end as an Orleans timeout
    [InlineData(0, 5, 10, 2)]
    [InlineData(120, 5, 0, 2)]
    [InlineData(120, 5, 10, -1)]
    public void OptionsOutOfRange_AreRefused(int responseSeconds, int timeLimitSeconds, int idleSeconds, int retries)
    {
        var options = new SandboxClusterOptions
        {
            ResponseTimeout = TimeSpan.FromSeconds(responseSeconds),
            Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(timeLimitSeconds) },
            SessionIdleTimeout = TimeSpan.FromSeconds(idleSeconds),
            FreshRunRetries = retries,
        };
        Assert.Throws<ArgumentException>(() => new SandboxCluster(NoGrains(), options));
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddPythonSandboxCluster(options));
    }

    [Fact]
    public void SiloOptionsOutOfRange_AreRefusedAtRegistration()
    {
        var tooShort = new PythonSandboxSiloOptions { ResponseTimeout = TimeSpan.FromSeconds(5), Pool = new SandboxPoolOptions { Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(10) } } };
        Assert.Throws<ArgumentException>(() => Host.CreateApplicationBuilder().UseOrleans(silo => silo.AddPythonSandboxes(tooShort)));
        var tooBig = new PythonSandboxSiloOptions { MaxMessageBytes = 2L * 1024 * 1024 * 1024 };
        Assert.Throws<ArgumentException>(() => Host.CreateApplicationBuilder().UseOrleans(silo => silo.AddPythonSandboxes(tooBig)));
    }

    [Fact]
    public void SessionStorage_ThatIsNotRegistered_StopsTheSilo_NamingIt()
    {
        var options = new PythonSandboxSiloOptions { SessionStorageName = "python-sessions" };
        using var provider = new ServiceCollection().BuildServiceProvider();
        var e = Assert.Throws<InvalidOperationException>(() => SessionMarkers.Create(provider, options, NullLogger.Instance));
        Assert.Contains("'python-sessions'", e.Message, StringComparison.Ordinal);
        Assert.Null(SessionMarkers.Create(provider, new PythonSandboxSiloOptions(), NullLogger.Instance));
    }

    // A grain factory that is never called: these tests make no grain call.
    private static IGrainFactory NoGrains() => DispatchProxy.Create<IGrainFactory, UnusedProxy>();

#pragma warning disable CA1852 // DispatchProxy needs a derivable type
    internal class UnusedProxy : DispatchProxy
#pragma warning restore CA1852
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            throw new InvalidOperationException("no grain call is expected: " + targetMethod?.Name);
    }
}
