using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PyodideEmbedded;
using PyodideEmbedded.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="SandboxPool"/> with a host: options from configuration or code, validated at start-up;
/// the pool warmed by a hosted service, reporting to the host's logging and metrics, and disposed with the host. The pool
/// is also the host's <see cref="ISandboxRunner"/>, unless a cluster was registered as that.</summary>
public static class PythonSandboxServiceCollectionExtensions
{
    /// <summary>Adds a singleton <see cref="SandboxPool"/> whose options are bound from <paramref name="configuration"/>
    /// (for example the <c>PythonSandbox</c> section: <c>MinReady</c>, <c>MaxSandboxes</c>, <c>SessionIdleTimeout</c>,
    /// <c>Sandbox:Timeout</c>, <c>Sandbox:MemoryLimitBytes</c>, ...).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section holding <see cref="SandboxPoolOptions"/>' properties.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <remarks>Options out of range stop the host at start-up (<see cref="OptionsValidationException"/>). A hosted service
    /// starts filling the pool when the host starts, without delaying it; <see cref="AddPythonSandboxPool(IHealthChecksBuilder, string)"/>
    /// reports whether sandboxes start. The pool logs and measures through the host's <see cref="ILoggerFactory"/> and
    /// <see cref="IMeterFactory"/> (when registered).</remarks>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IServiceCollection AddPythonSandboxPool(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services).Configure(holder => holder.Value = Bind(configuration, holder.Value));
        return services;
    }

    /// <summary>Adds a singleton <see cref="SandboxPool"/> whose options <paramref name="configure"/> returns, given the
    /// options so far (the defaults, or what an earlier call bound from configuration):
    /// <c>services.AddPythonSandboxPool(o => o with { MinReady = 4, Sandbox = o.Sandbox with { Timeout = TimeSpan.FromSeconds(2) } })</c>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Returns the options to use.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <remarks>As for <see cref="AddPythonSandboxPool(IServiceCollection, IConfiguration)"/>.</remarks>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IServiceCollection AddPythonSandboxPool(this IServiceCollection services, Func<SandboxPoolOptions, SandboxPoolOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services).Configure(holder => holder.Value = configure(holder.Value) ?? throw new InvalidOperationException("The AddPythonSandboxPool delegate returned null."));
        return services;
    }

    /// <summary>Adds a health check of the registered <see cref="SandboxPool"/>: healthy once sandboxes start and
    /// <see cref="SandboxPoolOptions.MinReady"/> are ready, degraded while warming up or when none is ready (all in use),
    /// unhealthy when sandboxes fail to start (assets, engine). Its data: <c>ready</c>, <c>sessions</c>, <c>min_ready</c>.</summary>
    /// <param name="builder">The health checks.</param>
    /// <param name="name">The check's name.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static IHealthChecksBuilder AddPythonSandboxPool(this IHealthChecksBuilder builder, string name = "python-sandbox")
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddCheck<SandboxPoolHealthCheck>(name, HealthStatus.Unhealthy, ["python-sandbox"]);
    }

    private static OptionsBuilder<PoolOptionsHolder> AddCore(IServiceCollection services)
    {
        var options = services.AddOptions<PoolOptionsHolder>();
        if (services.Any(s => s.ServiceType == typeof(SandboxPool)))
        {
            return options; // a second call adds its configuration to the first's
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PoolOptionsHolder>, PoolOptionsValidation>());
        options.ValidateOnStart();
        services.AddSingleton(provider =>
        {
            var pool = provider.GetRequiredService<IOptions<PoolOptionsHolder>>().Value.Value;
            return new SandboxPool(pool with
            {
                Sandbox = pool.Sandbox with
                {
                    LoggerFactory = pool.Sandbox.LoggerFactory ?? provider.GetService<ILoggerFactory>(),
                    MeterFactory = pool.Sandbox.MeterFactory ?? provider.GetService<IMeterFactory>(),
                },
            });
        });
        // Integrations written against ISandboxRunner (tools, handlers) run on this pool, unless a cluster was registered
        // first (AddPythonSandboxCluster in PyodideEmbedded.Orleans).
        services.TryAddSingleton<ISandboxRunner>(provider => provider.GetRequiredService<SandboxPool>());
        services.AddSingleton<PoolWarmUp>();
        services.AddHostedService(provider => provider.GetRequiredService<PoolWarmUp>());
        return options;
    }

    // The binder writes init-only properties through reflection, so records bind like classes, the nested Sandbox
    // included; it binds into copies, never into the options it was given. A key that names no property (a typo) fails
    // the start instead of being ignored.
    private static SandboxPoolOptions Bind(IConfiguration configuration, SandboxPoolOptions current)
    {
        var pool = current with { Sandbox = current.Sandbox with { } };
        configuration.Bind(pool, binder => binder.ErrorOnUnknownConfiguration = true);
        return pool;
    }
}
