using System.ComponentModel;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// The MCP tools: <c>run_python_code</c> (named and shaped as in pydantic's mcp-run-python, so its users switch by
/// changing the command) and <c>reset_python_session</c>. Each MCP session has its own sandbox; no argument is a
/// host path or reaches a host object: code runs in the sandbox, globals cross as JSON, and files are written to
/// and read from the sandbox's in-memory file system only.
/// </summary>
[McpServerToolType]
internal sealed class PythonTools(McpPythonSessions sessions)
{
    private const string DataFolder = "/data/";

    [McpServerTool(Name = "run_python_code", Title = "Run Python code", Destructive = false, Idempotent = false, OpenWorld = false,
        UseStructuredContent = true, OutputSchemaType = typeof(RunPythonOutput))]
    [Description(
        "Runs Python 3.14 code in a sandbox (Pyodide: CPython on WebAssembly) and returns what it printed, the value of its last "
        + "expression, and any error with its traceback. Variables, imports and files persist between calls of the same session "
        + "until reset_python_session. The standard library is available; there is no network, no access to the host's files, and "
        + "no binary packages (no numpy or pandas). Top-level await works. Each call has a time limit and the sandbox a memory "
        + "limit: code that passes one is stopped and the result says which limit ended it. Write files under /out to hand them "
        + "back (images come back as images); files passed in data_files are under /data.")]
    public async Task<CallToolResult> RunPythonCode(
        McpServer server,
        [Description("Python code to run. The value of the last expression is returned, as in a notebook cell.")] string python_code,
        [Description("Values to set as global variables before the code runs (names are Python identifiers; values are JSON).")]
        Dictionary<string, JsonElement>? global_variables = null,
        [Description("Text files to write before the code runs, by name, into the sandbox's /data folder (for example {\"sales.csv\": \"a,b\\n1,2\\n\"}).")]
        Dictionary<string, string>? data_files = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (python_code is null)
        {
            return ToolReply.Refusal("python_code is required.");
        }

        RunInputs inputs;
        try
        {
            inputs = new RunInputs
            {
                Globals = global_variables?.ToDictionary(g => g.Key, g => (object?)g.Value, StringComparer.Ordinal),
                Files = data_files?.ToDictionary(f => DataPath(f.Key), f => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(f.Value), StringComparer.Ordinal),
            };
            var (result, outFiles) = await sessions.RunAsync(server, python_code, inputs, cancellationToken).ConfigureAwait(false);
            return ToolReply.Build(result, outFiles);
        }
        catch (ArgumentException e)
        {
            // A global or a data file the library refused: the message names it and holds nothing of the host.
            return ToolReply.Refusal(UsageErrors.Strip(e));
        }
        catch (TimeoutException e)
        {
            return ToolReply.Refusal(e.Message);
        }
        catch (SandboxStartException)
        {
            return ToolReply.Refusal("the sandbox failed to start; see the server's log");
        }
        catch (OrleansException e)
        {
            // mcp --cluster: the silo that held the call went away, or no gateway answers. A session's state is then
            // reported lost on its next call (SandboxLost).
            return ToolReply.Refusal($"the sandbox cluster could not take the call ({e.GetType().Name}); try again");
        }
    }

    [McpServerTool(Name = "reset_python_session", Title = "Reset the Python session", Destructive = true, Idempotent = true, OpenWorld = false)]
    [Description("Discards this session's Python state (variables, imports, files in /data and /out). The next run_python_code starts in a fresh sandbox.")]
    public async Task<string> ResetPythonSession(McpServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        var ended = await sessions.ResetAsync(server).ConfigureAwait(false);
        return ended ? "The session's sandbox was discarded; the next call starts fresh." : "There was no state to discard; the next call starts fresh.";
    }

    // A name in /data, never a host path: "sales.csv" or "/data/sales.csv"; the library then checks the path itself
    // (absolute, normal, no "..", no link followed).
    private static string DataPath(string name)
    {
        var path = name.StartsWith(DataFolder, StringComparison.Ordinal) ? name : DataFolder + name;
        if (path.Length == DataFolder.Length || name.StartsWith('/') && !name.StartsWith(DataFolder, StringComparison.Ordinal))
        {
            throw new ArgumentException($"data_files: '{name}' is not a file name in /data.", nameof(name));
        }

        return path;
    }
}
