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
