using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.ClearScript;

namespace PyodideEmbedded.Internal;

/// <summary>
/// The door through which sandboxed code calls granted .NET functions. Only Bootstrap.js's closure holds it; Python
/// reaches it through one JS function that passes two strings (a name, JSON arguments) and gets back one string (a
/// JSON reply), or null when the run was stopped during the call. Everything else is refused here, on the host:
/// calls outside a run or off the sandbox's thread, unknown names, oversized or malformed JSON, calls past the
/// per-run cap.
/// </summary>
/// <remarks>
/// The sandbox's thread waits while the function runs on the thread pool. When the run is stopped (time limit, the
/// caller's token, disposal) the wait ends at once: the function's token is cancelled and the call is abandoned; it
/// may go on running on the thread pool until it notices, and whatever it returns or throws then is dropped.
/// </remarks>
[NoDefaultScriptAccess]
internal sealed class FunctionBridge(FunctionTable table, int maxJsonBytes, SandboxMetrics metrics)
{
    // Set on the thread-pool flow of a call: a function that runs code in the sandbox that called it is refused
    // (that sandbox is busy with this very call; waiting for it would hold the call until the time limit).
    private static readonly AsyncLocal<FunctionBridge?> s_calling = new();

    private const int SpinIterations = 30;

    private WaitHandle? _stop;
    private int _threadId;
    private int _calls;

    /// <summary>What Python builds the <c>host</c> module from (see <see cref="FunctionTable.Spec"/>).</summary>
    public string Spec => table.Spec;

    /// <summary>Whether the current async flow is inside a call made through this bridge.</summary>
    public bool IsCallingFromHere => s_calling.Value == this;

    /// <summary>Opens the door for one run, on the sandbox's thread; <paramref name="stop"/> ends a call in progress.</summary>
    public void BeginRun(WaitHandle stop)
    {
        _calls = 0;
        _threadId = Environment.CurrentManagedThreadId;
        Volatile.Write(ref _stop, stop);
    }

    /// <summary>Closes the door: calls from timers, finalizers or anything else left behind are refused until the next run.</summary>
    public void EndRun() => Volatile.Write(ref _stop, null);

    /// <summary>Calls a granted function. Returns the JSON reply, or null when the run was stopped during the call.</summary>
    [ScriptMember("Call")]
    public string? Call(string name, string arguments)
    {
        var stop = Volatile.Read(ref _stop);
        if (stop is null || Environment.CurrentManagedThreadId != _threadId)
        {
            return Reply.Refused("host functions can be called only while the sandbox runs code");
        }

        if (stop.WaitOne(0))
        {
            return null; // the run is being stopped: start nothing more (code that swallowed the interrupt calls again)
        }

        if (++_calls > table.MaxCallsPerRun)
        {
            return Reply.Refused($"this run made more than {table.MaxCallsPerRun} host function calls");
        }

        if (name is null || arguments is null || table.Find(name) is not { } function)
        {
            return Reply.Refused("no such host function");
        }

        if (Encoding.UTF8.GetByteCount(arguments) > maxJsonBytes)
        {
            return Reply.Arguments($"{function.Name}() arguments are larger than {maxJsonBytes} bytes of JSON");
        }

        object?[]? values;
        string? error;
        var cancellation = new CancellationTokenSource();
        try
        {
            using var document = JsonDocument.Parse(arguments, new JsonDocumentOptions { MaxDepth = HostFunction.MaxDepth });
            values = function.BindArguments(document.RootElement, cancellation.Token, out error);
        }
        catch (JsonException)
        {
            values = null;
            error = $"{function.Name}() arguments are not valid JSON or are nested more than {HostFunction.MaxDepth} deep";
        }

        if (values is null)
        {
            cancellation.Dispose();
            return Reply.Arguments(error!);
        }

        var started = Stopwatch.GetTimestamp();
        var call = Task.Run(() =>
        {
            s_calling.Value = this;
            return function.InvokeAsync(values, cancellation.Token);
        });
        // Most functions answer in microseconds: spin briefly before the kernel wait, whose wake-up costs more.
        var spin = new SpinWait();
        while (!call.IsCompleted && spin.Count < SpinIterations)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        if (!call.IsCompleted && WaitHandle.WaitAny([stop, ((IAsyncResult)call).AsyncWaitHandle]) == 0 && !call.IsCompleted)
        {
            // Abandoned: the sandbox answers its caller now. The token tells the function; the CTS is left to the
            // GC (the function may still register on its token), and a late failure is observed, not rethrown.
            cancellation.Cancel();
            _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            Record(function, started, "abandoned");
            return null;
        }

        cancellation.Dispose();
        Record(function, started, call.IsCompletedSuccessfully ? "success" : "failed");
        return Reply.From(function, call, maxJsonBytes);
    }

    // Names are the host's own (granted by it), never the sandbox's: safe as a tag. Refused calls are not counted: a
    // hostile run could make them without end, and they cost nothing.
    private void Record(HostFunction function, long started, string outcome)
    {
        var name = new KeyValuePair<string, object?>("pyodide.host_function.name", function.Name);
        metrics.HostCalls.Add(1, name, new("pyodide.host_function.outcome", outcome));
        metrics.HostCallDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, name);
    }

    /// <summary>The replies Python reads (Runner.py): <c>{"value": v}</c> or <c>{"error": text, "kind": k}</c>.</summary>
    internal static class Reply
    {
        public static string Refused(string message) => Error(message, "refused");

        public static string Arguments(string message) => Error(message, "arguments");

        public static string Failed(string message) => Error(message, "failed");

        private static string Error(string message, string kind)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("error", message);
                json.WriteString("kind", kind);
                json.WriteEndObject();
            }

            return Encoding.UTF8.GetString(buffer.ToArray());
        }

        public static string From(HostFunction function, Task<string> call, int maxJsonBytes)
        {
            if (call.IsCompletedSuccessfully)
            {
                var value = call.GetAwaiter().GetResult();
                return Encoding.UTF8.GetByteCount(value) + 10 > maxJsonBytes
                    ? Failed($"the result of {function.Name}() is larger than {maxJsonBytes} bytes of JSON")
                    : "{\"value\":" + value + "}";
            }

            // Only a SandboxFunctionException's message is meant for the sandbox; anything else may hold host
            // details (paths, type names, secrets), so Python learns only that the call failed.
            return call.Exception?.InnerException is SandboxFunctionException meant
                ? Failed(Cut(meant.Message, maxJsonBytes / 8)) // escaped, a char may take six bytes
                : Failed($"the host function {function.Name}() failed");
        }

        private static string Cut(string text, int maxChars) => text.Length <= maxChars ? text : text[..maxChars];
    }
}
