using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;
using PyodideEmbedded;
using PyodideEmbedded.Orleans;
using PyodideEmbedded.Orleans.Internal;

namespace Microsoft.Extensions.Hosting;

/// <summary>Registers Python sandboxes with Orleans: on silos (<see cref="AddPythonSandboxes"/>) and on clients
/// (<see cref="AddPythonSandboxCluster(IServiceCollection, SandboxClusterOptions?)"/>).</summary>
public static class PythonSandboxClusterExtensions
{
    /// <summary>Makes this silo run Python: a local <see cref="SandboxPool"/> (disposed with the host), the session and
    /// fresh-run grains, the placement of sessions by spare sandboxes, and a <see cref="SandboxCluster"/> for code in the
    /// silo's process. Sets the silo's grain call timeout above the sandbox's time limit.</summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="options">The options; null for the defaults.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static ISiloBuilder AddPythonSandboxes(this ISiloBuilder builder, PythonSandboxSiloOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        options ??= new();
        PythonSandboxSiloOptions.CheckMaxMessageBytes(options.MaxMessageBytes);
        if (options.EffectiveResponseTimeout <= options.Pool.Sandbox.Timeout)
        {
            throw new ArgumentException(
                $"PythonSandboxSiloOptions.ResponseTimeout ({options.EffectiveResponseTimeout}) must be above the sandbox time limit ({options.Pool.Sandbox.Timeout}), or a long run would end as an Orleans timeout.",
                nameof(options));
        }

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton<LocalSandboxes>();
        services.AddSingleton<SandboxLoadCache>();
        services.AddSingleton<SandboxLoadReporter>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(p => p.GetRequiredService<SandboxLoadReporter>());
        builder.AddPlacementDirector<SandboxPlacementStrategy, SandboxPlacementDirector>();
        services.Configure<SiloMessagingOptions>(o =>
        {
            o.ResponseTimeout = Max(o.ResponseTimeout, options.EffectiveResponseTimeout);
            o.MaxMessageBodySize = PythonSandboxSiloOptions.OrleansBodyLimit(options.MaxMessageBytes, o.MaxMessageBodySize);
        });
        services.Configure<GrainCollectionOptions>(o =>
        {
            // The session grain deactivates itself after the idle timeout; Orleans' own collection must not come first.
            var age = options.Pool.SessionIdleTimeout + TimeSpan.FromMinutes(2);
            o.ClassSpecificCollectionAge[typeof(SandboxSessionGrain).FullName!] = age;
        });
        services.TryAddSingleton(p => new SandboxCluster(p.GetRequiredService<IGrainFactory>(), new SandboxClusterOptions
        {
            ResponseTimeout = options.EffectiveResponseTimeout,
            SessionIdleTimeout = options.Pool.SessionIdleTimeout,
            Sandbox = options.Pool.Sandbox,
            MaxMessageBytes = options.MaxMessageBytes,
        }));
        services.TryAddSingleton<ISandboxRunner>(p => p.GetRequiredService<SandboxCluster>());
        return builder;
    }

    /// <summary>Adds a <see cref="SandboxCluster"/> over the registered Orleans client (<c>UseOrleansClient</c>), and sets
    /// the client's grain call timeout to <see cref="SandboxClusterOptions.ResponseTimeout"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="options">The options; null for the defaults. <see cref="SandboxClusterOptions.SessionIdleTimeout"/>
    /// should be the silos' <see cref="SandboxPoolOptions.SessionIdleTimeout"/>.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static IServiceCollection AddPythonSandboxCluster(this IServiceCollection services, SandboxClusterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        options ??= new();
        options.Validate();
        services.Configure<ClientMessagingOptions>(o =>
        {
            o.ResponseTimeout = options.ResponseTimeout;
            o.MaxMessageBodySize = PythonSandboxSiloOptions.OrleansBodyLimit(options.MaxMessageBytes, o.MaxMessageBodySize);
        });
        services.TryAddSingleton(p => new SandboxCluster(p.GetRequiredService<IGrainFactory>(), options));
        // Integrations written against ISandboxRunner (PythonTool, the MCP server) run on the cluster.
        services.TryAddSingleton<ISandboxRunner>(p => p.GetRequiredService<SandboxCluster>());
        return services;
    }

    /// <summary>Adds a <see cref="SandboxCluster"/> whose options are bound from <paramref name="configuration"/> (for
    /// example the <c>PythonSandbox:Cluster</c> section: <c>ResponseTimeout</c>, <c>SessionIdleTimeout</c>,
    /// <c>FreshRunRetries</c>, <c>Sandbox:Timeout</c>, <c>Sandbox:MemoryLimitBytes</c>, ...), as
    /// <see cref="AddPythonSandboxCluster(IServiceCollection, SandboxClusterOptions?)"/> does.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section holding <see cref="SandboxClusterOptions"/>' properties.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="InvalidOperationException">A key names no option.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static IServiceCollection AddPythonSandboxCluster(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var defaults = new SandboxClusterOptions();
        var options = defaults with { Sandbox = defaults.Sandbox with { } };
        // A key that names no option (a typo) fails here instead of being ignored.
        configuration.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        options.Validate();
        return services.AddPythonSandboxCluster(options);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
