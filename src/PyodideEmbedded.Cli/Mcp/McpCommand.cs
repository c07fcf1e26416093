using System.CommandLine;
using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using System.Diagnostics.Metrics;
using Orleans.Configuration;
using PyodideEmbedded.Orleans;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// <c>pyodide-sandbox mcp</c>: an MCP server with the <c>run_python_code</c> tool, over stdio (the default) or
/// streamable HTTP (<c>--http</c>, endpoint <c>/mcp</c>). Logs go to stderr only; in stdio mode stdout carries the
/// protocol and nothing else (see <see cref="ReplyStream"/>). The sandboxes are a local pool, or with <c>--cluster</c> an
/// Orleans cluster of silos that run them (<see cref="ClusterTarget"/>).
/// </summary>
internal sealed class McpCommand
{
    public const string Endpoint = "/mcp";

    // A call that finds every place in use waits this long for one before it is refused.
    private static readonly TimeSpan s_maxWaitForSandbox = TimeSpan.FromSeconds(30);

    private readonly CliCommands _cli;
    private readonly LimitOptions _limits;

    private readonly Option<bool> _http = new("--http") { Description = "Serve streamable HTTP (endpoint /mcp) instead of stdio." };

    private readonly Option<string> _urls = new("--urls")
    {
        Description = "Where --http listens, separated by ';'. Loopback only unless --auth-token-env is set.",
        DefaultValueFactory = _ => "http://127.0.0.1:3001",
    };

    private readonly Option<string?> _authTokenEnv = new("--auth-token-env")
    {
        Description = "Name of an environment variable holding a bearer token (at least 32 characters) that every HTTP request must carry; required to bind beyond loopback.",
    };

    private readonly Option<int> _maxSessions = new("--max-sessions")
    {
        Description = "Most MCP sessions with a sandbox at once (1 to 256); a call beyond waits up to 30 s for one to end or expire. Local pool only (not with --cluster).",
        DefaultValueFactory = _ => 16,
    };

    private readonly Option<int> _sessionIdleMinutes = new("--session-idle-minutes")
    {
        Description = "A session unused this long loses its sandbox (1 to 1440). With --cluster, give the silos' session idle timeout.",
        DefaultValueFactory = _ => 10,
    };

    private readonly Option<string?> _cluster = new("--cluster")
    {
        Description = "Run the sandboxes on an Orleans cluster of PyodideEmbedded silos instead of a local pool: its gateways as host:port, "
            + "separated by ';' or ',' (for example 127.0.0.1:30000;127.0.0.1:30001). The limit flags then declare the silos' limits, "
            + "for the tool's description; the silos enforce their own.",
    };

    private readonly Option<string> _clusterId = new("--cluster-id")
    {
        Description = "The cluster's Orleans ClusterId, with --cluster.",
        // Orleans' own default, which silos with localhost clustering (as in the cluster sample) also run with.
        DefaultValueFactory = _ => ClusterOptions.DefaultClusterId,
    };

    private readonly Option<string> _serviceId = new("--service-id")
    {
        Description = "The cluster's Orleans ServiceId, with --cluster.",
        DefaultValueFactory = _ => ClusterOptions.DefaultServiceId,
    };

    public McpCommand(CliCommands cli, LimitOptions limits)
    {
        _cli = cli;
        _limits = limits;
        Command = new Command("mcp", "Serve the Model Context Protocol: a run_python_code tool with a sandbox per session (stdio, or --http), "
            + "in this process or, with --cluster, on an Orleans cluster of sandbox silos.")
        {
            _http, _urls, _authTokenEnv, _maxSessions, _sessionIdleMinutes, _cluster, _clusterId, _serviceId,
        };
        limits.AddTo(Command);
        Command.SetAction(RunAsync);
    }

    public Command Command { get; }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var (poolOptions, cluster, token, problem) = Check(parse);
        if (problem is not null)
        {
            await Console.Error.WriteLineAsync(UsageErrors.ProgramName + ": " + problem).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return parse.GetValue(_http)
            ? await ServeHttpAsync(poolOptions!, cluster, parse.GetValue(_urls)!, token, cancellationToken).ConfigureAwait(false)
            : await ServeStdioAsync(poolOptions!, cluster, cancellationToken).ConfigureAwait(false);
    }

    // Everything the flags decide, checked before anything starts: the pool's options (validated by making a pool,
    // which starts nothing; with --cluster they are what the silos are declared to run with), the cluster, the bind
    // addresses and the token.
    internal (SandboxPoolOptions? Options, ClusterTarget? Cluster, string? Token, string? Problem) Check(ParseResult parse)
    {
        var maxSessions = parse.GetValue(_maxSessions);
        var idleMinutes = parse.GetValue(_sessionIdleMinutes);
        var problem = maxSessions is < 1 or > 256 ? $"--max-sessions must be between 1 and 256; got {maxSessions}."
            : idleMinutes is < 1 or > 1440 ? $"--session-idle-minutes must be between 1 and 1440; got {idleMinutes}."
            : _limits.Check(parse);
        if (problem is not null)
        {
            return (null, null, null, problem);
        }

        var clusterText = parse.GetValue(_cluster);
        if (clusterText is null && (parse.GetResult(_clusterId) is { Implicit: false } || parse.GetResult(_serviceId) is { Implicit: false }))
        {
            return (null, null, null, "--cluster-id and --service-id apply to --cluster only (without it the sandboxes are a local pool).");
        }

        if (clusterText is not null && parse.GetResult(_maxSessions) is { Implicit: false })
        {
            return (null, null, null, "--max-sessions applies to a local pool only: with --cluster, the silos' pools decide how many sessions run at once.");
        }

        IPEndPoint[]? gateways = null;
        if (clusterText is not null)
        {
            (gateways, problem) = ClusterTarget.ParseGateways(clusterText);
            problem ??= string.IsNullOrWhiteSpace(parse.GetValue(_clusterId)) ? "--cluster-id must not be empty."
                : string.IsNullOrWhiteSpace(parse.GetValue(_serviceId)) ? "--service-id must not be empty."
                : null;
            if (problem is not null)
            {
                return (null, null, null, problem);
            }
        }

        if (!parse.GetValue(_http) && (parse.GetResult(_urls) is { Implicit: false } || parse.GetValue(_authTokenEnv) is not null))
        {
            return (null, null, null, "--urls and --auth-token-env apply to --http only (without it the server speaks over stdio).");
        }

        string? token = null;
        if (parse.GetValue(_authTokenEnv) is { } variable)
        {
            token = Environment.GetEnvironmentVariable(variable);
            if (token is null || token.Trim().Length < 32)
            {
                return (null, null, null, $"--auth-token-env {variable}: the variable must hold a token of at least 32 characters.");
            }

            token = token.Trim();
        }

        if (parse.GetValue(_http))
        {
            var urls = parse.GetValue(_urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (urls.Length == 0 || urls.Any(u => !Uri.TryCreate(u, UriKind.Absolute, out _) && !u.Contains('*', StringComparison.Ordinal) && !u.Contains('+', StringComparison.Ordinal)))
            {
                return (null, null, null, $"--urls: '{parse.GetValue(_urls)}' is not a list of URLs such as http://127.0.0.1:3001.");
            }

            if (token is null && urls.FirstOrDefault(u => !HttpGuard.IsLoopback(u)) is { } exposed)
            {
                return (null, null, null, $"--urls {exposed} is not a loopback address: binding there needs --auth-token-env NAME, a bearer token every request must carry.");
            }
        }

        // One place beyond the sessions: the spare that makes a new session's first call fast.
        var options = new SandboxPoolOptions
        {
            Sandbox = _limits.Read(parse),
            MinReady = 1,
            MaxSandboxes = maxSessions + 1,
            SessionIdleTimeout = TimeSpan.FromMinutes(idleMinutes),
        };
        try
        {
            new SandboxPool(options).Dispose();
        }
        catch (ArgumentException e)
        {
            return (null, null, null, _cli.Explain(e, parse));
        }

        ClusterTarget? cluster = null;
        if (gateways is not null)
        {
            var clusterOptions = new SandboxClusterOptions { Sandbox = options.Sandbox, SessionIdleTimeout = options.SessionIdleTimeout };
            // A declared time limit near the client's grain call timeout would end long runs as Orleans timeouts, not as
            // the sandbox's time limit: the call timeout grows with it.
            if (clusterOptions.ResponseTimeout < options.Sandbox.Timeout + TimeSpan.FromMinutes(2))
            {
                clusterOptions = clusterOptions with { ResponseTimeout = options.Sandbox.Timeout + TimeSpan.FromMinutes(2) };
            }

            cluster = new ClusterTarget(gateways, clusterText!, parse.GetValue(_clusterId)!.Trim(), parse.GetValue(_serviceId)!.Trim(), clusterOptions);
        }

        return (options, cluster, token, null);
    }

    private static async Task<int> ServeStdioAsync(SandboxPoolOptions options, ClusterTarget? cluster, CancellationToken cancellationToken)
    {
        // Before any sandbox starts: from here on only the protocol reaches stdout.
        await using var stdout = ReplyStream.Take(Console.Error);
        await using var stdin = Console.OpenStandardInput();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        AddServices(builder.Services, builder.Logging, options, cluster, McpPythonSessions.StdioSession);
        builder.Services.AddMcpServer(ConfigureServer).WithStreamServerTransport(stdin, stdout).WithTools<PythonTools>();
        using var host = builder.Build();
        if (!await StartAsync(host, cluster, cancellationToken).ConfigureAwait(false))
        {
            return ExitCodes.StartError;
        }

        await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static async Task<int> ServeHttpAsync(SandboxPoolOptions options, ClusterTarget? cluster, string urls, string? token, CancellationToken cancellationToken)
    {
        // The empty builder reads no appsettings.json or ASPNETCORE_* variables: what listens is what the flags say.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = UsageErrors.ProgramName });
        builder.WebHost.UseKestrelCore().UseUrls(urls).ConfigureKestrel(kestrel =>
        {
            // A request holds the code and globals (JSON-escaped: up to 6 bytes a byte) and text data files (twice their
            // size covers escaped newlines and quotes, not a file of control characters), plus framing.
            kestrel.Limits.MaxRequestBodySize = Math.Min(int.MaxValue, ((long)options.Sandbox.MaxCodeBytes * 6) + (options.Sandbox.MaxFileBytes * 2) + 65536);
            kestrel.AddServerHeader = false;
        });
        builder.Services.AddRoutingCore();
        AddServices(builder.Services, builder.Logging, options, cluster, sessionWithoutId: null);
        builder.Services.AddMcpServer(ConfigureServer).WithHttpTransport(http =>
        {
            // Stateful: a sandbox per Mcp-Session-Id is the point. Clients of the sessionless 2026-07-28 revision are
            // told to fall back to the initialize handshake, which gives them a session (and their own sandbox).
#pragma warning disable MCP9006 // obsolete as the protocol's default, kept for exactly this back-compat
            http.SessionMode = HttpServerSessionMode.Stateful;
            http.IdleTimeout = options.SessionIdleTimeout;
#pragma warning restore MCP9006
#pragma warning disable MCPEXP002 // experimental: the one hook that runs when an MCP session ends, to free its sandbox at once
            http.RunSessionHandler = async (context, server, stopped) =>
            {
                var sessions = context.RequestServices.GetRequiredService<McpPythonSessions>();
                try
                {
                    await server.RunAsync(stopped).ConfigureAwait(false);
                }
                finally
                {
                    await sessions.ResetAsync(server).ConfigureAwait(false);
                }
            };
#pragma warning restore MCPEXP002
        }).WithTools<PythonTools>();

        await using var app = builder.Build();
        var guard = new HttpGuard(token);
        app.Use((context, next) => guard.InvokeAsync(context, () => next(context)));
        app.MapMcp(Endpoint);
        if (!await StartAsync(app, cluster, cancellationToken).ConfigureAwait(false))
        {
            return ExitCodes.StartError;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses)
        {
            await Console.Error.WriteLineAsync($"{UsageErrors.ProgramName}: MCP endpoint at {address}{Endpoint}").ConfigureAwait(false);
        }

        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    // With --cluster the start connects to the cluster: one out of reach is said in one line, not as a stack trace.
    private static async Task<bool> StartAsync(IHost host, ClusterTarget? cluster, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            cluster?.MarkConnected();
            return true;
        }
        catch (Exception e) when (cluster is not null && !cancellationToken.IsCancellationRequested)
        {
            var reason = e.Message.ReplaceLineEndings(" ");
            await Console.Error.WriteLineAsync(
                $"{UsageErrors.ProgramName}: could not reach the Orleans cluster at {cluster.Text} (cluster id '{cluster.ClusterId}', service id '{cluster.ServiceId}') within {ClusterTarget.ConnectFor.TotalSeconds:0} s (are its silos up, with these ids?): {reason}").ConfigureAwait(false);
            return false;
        }
    }

    private static void AddServices(IServiceCollection services, ILoggingBuilder logging, SandboxPoolOptions options, ClusterTarget? cluster, string? sessionWithoutId)
    {
        logging.ClearProviders();
        logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("PyodideEmbedded", LogLevel.Information);
        services.AddMetrics();
        if (cluster is not null)
        {
            // No local pool: the silos run the sandboxes, and this process is an Orleans client logging as the rest does.
            cluster.AddTo(services);
            // While the start connects, each failed attempt is a warning with a stack trace, and a start that gives up is
            // an error with another: the one line StartAsync writes says it instead.
            logging.AddFilter("Orleans.Runtime.Messaging.ConnectionManager", level => level >= LogLevel.Warning && cluster.Connected);
            logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Warning && cluster.Connected);
            services.AddSingleton(provider => new McpPythonSessions(provider.GetRequiredService<ISandboxRunner>(), s_maxWaitForSandbox, sessionWithoutId));
            return;
        }

        services.AddSingleton(provider => new SandboxPool(options with
        {
            Sandbox = options.Sandbox with
            {
                LoggerFactory = provider.GetRequiredService<ILoggerFactory>(),
                MeterFactory = provider.GetRequiredService<IMeterFactory>(),
            },
        }));
        services.AddSingleton(provider => new McpPythonSessions(provider.GetRequiredService<SandboxPool>(), s_maxWaitForSandbox, sessionWithoutId));
    }

    private static void ConfigureServer(McpServerOptions server)
    {
        server.ServerInfo = new Implementation
        {
            Name = UsageErrors.ProgramName,
            Version = typeof(McpCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0",
        };
        server.ServerInstructions = "run_python_code runs Python 3.14 (Pyodide) in a sandbox with time and memory limits; state persists per session until reset_python_session.";
    }
}
