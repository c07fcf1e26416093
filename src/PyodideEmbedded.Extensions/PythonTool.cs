using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace PyodideEmbedded;

/// <summary>
/// A Microsoft.Extensions.AI tool (<see cref="AIFunction"/>) named <c>run_python_code</c> that runs model-written
/// Python in a sandbox from a <see cref="SandboxPool"/> (or any <see cref="ISandboxRunner"/>, such as a cluster) and returns what a model needs: status, output, value, error
/// (with the user's traceback) and the limit that ended the run, as one compact JSON object within a size cap.
/// </summary>
/// <remarks>
/// <para>The tool's description tells the model what the environment has: Python 3.14 and its standard library, the
/// packages the pool installs, no network, no binary packages such as numpy, and the limits.</para>
/// <para>Nothing a model sends reaches the host: the code runs in the sandbox, and <c>global_variables</c> cross as
/// JSON values. A global the library refuses (a dunder name, say) comes back to the model as a refusal, not as an
/// exception.</para>
/// </remarks>
public static class PythonTool
{
    /// <summary>The tool's name, as in pydantic's mcp-run-python and <c>pyodide-sandbox mcp</c>.</summary>
    public const string Name = "run_python_code";

    /// <summary>The default cap on the result the model receives, in characters.</summary>
    public const int DefaultMaxResultChars = 16 * 1024;

    /// <summary>A tool that runs each call in a fresh interpreter (the pool resets its sandbox afterwards): nothing survives between calls.</summary>
    /// <param name="sandboxes">Where the code runs: a <see cref="SandboxPool"/> or a cluster (see <see cref="ISandboxRunner.RunAsync"/>).</param>
    /// <param name="maxResultChars">Cap on the result the model receives: output and tracebacks are cut to fit.
    /// Between 1,024 and 1,048,576; default <see cref="DefaultMaxResultChars"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="sandboxes"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxResultChars"/> is out of range.</exception>
    public static AIFunction Create(ISandboxRunner sandboxes, int maxResultChars = DefaultMaxResultChars)
    {
        ArgumentNullException.ThrowIfNull(sandboxes);
        CheckCap(maxResultChars);
        return Build(sandboxes, (code, inputs, ct) => sandboxes.RunAsync(code, inputs, ct), persistent: false, maxResultChars);
    }

    /// <summary>A tool bound to one session (one conversation): variables, imports and files persist from call to call
    /// until the session ends (<see cref="ISandboxRunner.EndSessionAsync"/>) or idles out.</summary>
    /// <param name="sandboxes">Where the session's sandbox comes from: a <see cref="SandboxPool"/> or a cluster.</param>
    /// <param name="sessionId">The session, such as a conversation id.</param>
    /// <param name="maxResultChars">As for <see cref="Create"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="sandboxes"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="sessionId"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxResultChars"/> is out of range.</exception>
    public static AIFunction CreateForSession(ISandboxRunner sandboxes, string sessionId, int maxResultChars = DefaultMaxResultChars)
    {
        ArgumentNullException.ThrowIfNull(sandboxes);
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        CheckCap(maxResultChars);
        return Build(sandboxes, (code, inputs, ct) => sandboxes.RunInSessionAsync(sessionId, code, inputs, ct), persistent: true, maxResultChars);
    }

    private static void CheckCap(int maxResultChars)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxResultChars, 1024);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxResultChars, 1024 * 1024);
    }

    private static AIFunction Build(ISandboxRunner sandboxes, Func<string, RunInputs?, CancellationToken, Task<SandboxResult>> run, bool persistent, int maxResultChars)
    {
        async Task<JsonElement> RunPythonCode(
            [Description("Python code to run. The value of the last expression is returned, as in a notebook cell.")] string python_code,
            [Description("Values to set as global variables before the code runs (names are Python identifiers; values are JSON).")]
            Dictionary<string, JsonElement>? global_variables = null,
            CancellationToken cancellationToken = default)
        {
            SandboxResult result;
            try
            {
                var inputs = global_variables is null ? null
                    : new RunInputs { Globals = global_variables.ToDictionary(g => g.Key, g => (object?)g.Value, StringComparer.Ordinal) };
                result = await run(python_code, inputs, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                return ToolResult.Refused(e);
            }

            return ToolResult.Compact(result, maxResultChars);
        }

        return AIFunctionFactory.Create(RunPythonCode, new AIFunctionFactoryOptions
        {
            Name = Name,
            Description = Describe(sandboxes.SandboxOptions, persistent),
        });
    }

    internal static string Describe(SandboxOptions options, bool persistent)
    {
        var packages = options.Packages.Count == 0 ? "no packages beyond the standard library"
            : "these packages: " + string.Join(", ", options.Packages);
        var state = persistent
            ? "Variables, imports and files persist between calls in this conversation."
            : "Each call starts in a fresh interpreter: nothing persists between calls.";
        return string.Create(CultureInfo.InvariantCulture, $"""
            Runs Python 3.14 code (CPython on WebAssembly, in a sandbox) and returns its printed output, the value of its last expression (as JSON), and any error with its traceback. {state} Available: the standard library and {packages}. Not available: network access, the host's files, subprocesses, and binary packages such as numpy or pandas. Limits: {options.Timeout.TotalSeconds:0.###} s per call and {options.MemoryLimitBytes / (1024 * 1024)} MiB of memory; code that passes one is stopped and the result says which limit ended it. Top-level await works. Use print() or end with an expression to see results.
            """);
    }
}
