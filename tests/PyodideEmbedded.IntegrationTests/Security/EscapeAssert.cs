using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;


namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Shared checks for the escape tests: an attack must end as a result (never a host exception),
/// leak nothing of the host, and leave the sandbox (or a fresh replacement) answering.</summary>
internal static partial class EscapeAssert
{
    /// <summary>The worst case: Python may import <c>js</c> and touch the whole JS realm.</summary>
    public static SandboxOptions Interop { get; } = TestOptions.Default with { AllowJsInterop = true };

    /// <summary>The JS realm's global object from Python without <c>import js</c> (the default options' route in).</summary>
    public const string RealmWithoutImport =
        "__import__('sys').modules['pyodide_js'].constructor.constructor('return globalThis')()";

    public static Task<PythonSandbox> CreateAsync(bool allowJsInterop) =>
        PythonSandbox.CreateAsync(allowJsInterop ? Interop : TestOptions.Default);

    /// <summary>Runs an attack. A host exception out of RunAsync (instead of a result) is itself a containment failure.</summary>
    public static async Task<SandboxResult> RunAttackAsync(PythonSandbox sandbox, string code, RunInputs? inputs = null)
    {
        try
        {
            return await sandbox.RunAsync(code, inputs);
        }
        catch (Exception e) when (e is not SandboxFaultedException)
        {
            Assert.Fail($"CONTAINMENT FAILURE: RunAsync threw {e.GetType().FullName} instead of returning a result.\n" +
                $"Payload:\n{code}\nMessage: {e.Message}");
            throw;
        }
    }

    /// <summary>Runs code that must succeed; returns its value.</summary>
    public static async Task<JsonElement> RunValueAsync(PythonSandbox sandbox, string code)
    {
        var result = await RunAttackAsync(sandbox, code);
        Assert.True(result.Succeeded, $"Expected success, got {result.Error?.Summary}\n{result.Error?.Traceback}\nPayload:\n{code}");
        Assert.True(result.Value.HasValue, $"Expected a value.\nPayload:\n{code}");
        return result.Value!.Value;
    }

    /// <summary>Runs code whose value is a JSON text (built inside the sandbox) and parses it.</summary>
    public static async Task<JsonElement> RunJsonAsync(PythonSandbox sandbox, string code)
    {
        var value = await RunValueAsync(sandbox, code);
        using var document = JsonDocument.Parse(value.GetString()!);
        return document.RootElement.Clone();
    }

    /// <summary>The sandbox answers <c>1 + 1</c>; a faulted one is replaced (as a host would) and the replacement must answer.</summary>
    public static async Task AssertStillAnswersAsync(PythonSandbox sandbox)
    {
        if (sandbox.IsFaulted)
        {
            await using var replacement = await PythonSandbox.CreateAsync(sandbox.Options);
            await AssertAnswersAsync(replacement);
            return;
        }

        await AssertAnswersAsync(sandbox);
    }

    private static async Task AssertAnswersAsync(PythonSandbox sandbox)
    {
        var result = await RunAttackAsync(sandbox, "1 + 1");
        Assert.True(result.Succeeded, $"The sandbox no longer answers 1 + 1: {result.Error?.Summary}");
        Assert.Equal(2, result.Value!.Value.GetInt32());
        Assert.Equal("", result.Stdout);
    }

    /// <summary>An attack must fail as data: a Python error (or a lost sandbox), never a value.</summary>
    public static void AssertRefused(SandboxResult result, string payload)
    {
        Assert.False(result.Succeeded, $"Attack was NOT refused; value: {result.Value?.GetRawText()}\nstdout: {Trim(result.Stdout)}\nPayload:\n{payload}");
        AssertNoHostData(result, payload);
    }

    /// <summary>Every text of the result is free of host data (paths, .NET names, stack traces, secrets).</summary>
    public static void AssertNoHostData(SandboxResult result, string payload) => AssertNoHostData(AllText(result), payload);

    public static void AssertNoHostData(string text, string payload)
    {
        foreach (var marker in HostMarkers())
        {
            Assert.False(text.Contains(marker, StringComparison.Ordinal),
                $"HOST DATA LEAKED: found '{marker}' in:\n{Trim(text)}\nPayload:\n{payload}");
        }

        var match = HostPattern().Match(text);
        Assert.False(match.Success, $"HOST DATA LEAKED: found '{match.Value}' in:\n{Trim(text)}\nPayload:\n{payload}");
    }

    public static string AllText(SandboxResult result) => string.Join("\n",
        result.Value?.GetRawText() ?? "", result.Stdout, result.Stderr,
        result.Error?.TypeName ?? "", result.Error?.Message ?? "", result.Error?.Summary ?? "", result.Error?.Traceback ?? "");

    public static string Trim(string text) => text.Length <= 4000 ? text : text[..4000] + "...";

    public const string SecretName = "PYODIDE_EMBEDDED_SECRET";
    public static string SecretValue { get; } = "host-secret-" + Guid.NewGuid().ToString("N");

    /// <summary>Puts a distinctive variable into this process's environment (before any sandbox of the test starts).</summary>
    public static void PlantHostSecret() => Environment.SetEnvironmentVariable(SecretName, SecretValue);

    private static IEnumerable<string> HostMarkers()
    {
        yield return "/work/main";
        yield return "/root/";
        yield return "/tmp/sec-artifacts";
        yield return AppContext.BaseDirectory.TrimEnd('/');
        yield return "System.";
        yield return "Microsoft.";
        yield return "ClearScript";
        yield return "PyodideEmbedded.";
        yield return "--- End of stack trace";
        yield return ".dll";
        yield return SecretValue;
        var machine = Environment.MachineName;
        if (machine.Length >= 6 && machine is not ("emscripten" or "localhost"))
        {
            yield return machine;
        }
    }

    // A C# source file, or a .NET stack frame ("at Namespace.Type.Method(") .
    [GeneratedRegex(@"\.cs\b|\bat [A-Z][A-Za-z0-9_]*\.[A-Za-z0-9_.`<>]+\(")]
    private static partial Regex HostPattern();
}

/// <summary>One booted sandbox with JS interop on, for attacks that only read state.</summary>
public sealed class InteropSandboxFixture : IAsyncLifetime
{
    public PythonSandbox Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() => Sandbox = await PythonSandbox.CreateAsync(EscapeAssert.Interop);

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SecurityInteropSandboxDefinition : ICollectionFixture<InteropSandboxFixture>
{
    public const string Name = "Security: shared interop sandbox";
}

/// <summary>One booted sandbox with the default options (interop off), for attacks that only read state.</summary>
public sealed class DefaultSandboxFixture : IAsyncLifetime
{
    public PythonSandbox Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() => Sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SecurityDefaultSandboxDefinition : ICollectionFixture<DefaultSandboxFixture>
{
    public const string Name = "Security: shared default sandbox";
}

/// <summary>A <c>pyodide-sandbox serve</c> child process (<see cref="CliProcess"/>) with checks for attacks on the protocol.</summary>
internal sealed class CliServer : IAsyncDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);
    private readonly CliProcess _cli;

    private CliServer(CliProcess cli) => _cli = cli;

    public string Stderr => _cli.Stderr;

    public bool HasExited => _cli.HasExited;

    public static async Task<CliServer> StartAsync(params string[] extraArgs)
    {
        Assert.True(File.Exists(CliProcess.Dll), $"CLI not found at {CliProcess.Dll}");
        string[] timeout = extraArgs.Contains("--timeout-ms") ? [] : ["--timeout-ms", "30000"];
        var server = new CliServer(CliProcess.Start(["serve", .. timeout, .. extraArgs]));
        // Warm up: the first reply proves the sandbox booted.
        var warm = await server.SendAsync("'ready'");
        Assert.Equal("ready", warm.GetProperty("output").GetString());
        return server;
    }

    /// <summary>Sends one request; returns the one reply line it produced, parsed. Fails when no valid JSON line arrives.</summary>
    public async Task<JsonElement> SendAsync(string code)
    {
        var line = await SendRawAsync(code);
        Assert.True(line is not null, $"CLI sent no reply (exited: {_cli.HasExited}).\nPayload:\n{code}\nCLI stderr:\n{EscapeAssert.Trim(Stderr)}");
        try
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            Assert.Fail($"CLI reply is not one valid JSON object: {e.Message}\nLine: {EscapeAssert.Trim(line!)}\nPayload:\n{code}");
            throw;
        }
    }

    public async Task<string?> SendRawAsync(string code)
    {
        try
        {
            await _cli.SendLineAsync(JsonSerializer.Serialize(new { code }));
        }
        catch (IOException)
        {
            return null; // the server is gone
        }

        return await _cli.ReadLineAsync().WaitAsync(ReplyTimeout);
    }

    /// <summary>Proves the stream is in step: a sentinel request gets exactly its own reply next.</summary>
    public async Task AssertInStepAsync()
    {
        var marker = "sentinel-" + Guid.NewGuid().ToString("N");
        var reply = await SendAsync($"'{marker}'");
        Assert.True(reply.TryGetProperty("output", out var output) && output.GetString() == marker,
            $"The reply stream is out of step: expected the sentinel reply, got {reply.GetRawText()}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_cli.HasExited)
            {
                await _cli.SendLineAsync("{\"shutdown\": true}");
                _cli.CloseInput();
                await _cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            // DisposeAsync below kills whatever is left.
        }
        finally
        {
            await _cli.DisposeAsync();
        }
    }
}
