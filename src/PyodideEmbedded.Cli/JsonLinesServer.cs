using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>
/// The JSON-lines protocol of the Deno <c>runner.js</c> it replaces: one request object per line in,
/// exactly one reply object per line out, in order. Only this class writes to the output stream, and
/// it writes only replies it serialised itself, so nothing the Python code prints can forge a line.
/// </summary>
internal sealed class JsonLinesServer(Func<CancellationToken, Task<PythonSandbox>> createSandbox, TimeSpan maxTimeout, TextWriter diagnostics)
{
    /// <summary>The <c>error_type</c> of a request line that was refused unread.</summary>
    public const string InvalidRequest = "InvalidRequest";

    /// <summary>
    /// Serves until end of input or a <c>{"shutdown": true}</c> request. Every non-blank line gets exactly one
    /// reply, in order; nothing that one line holds or causes ends the loop.
    /// </summary>
    /// <param name="sandbox">The sandbox to start with (the server owns and disposes it), or null to start one on the first request.</param>
    /// <param name="input">Request lines, UTF-8 JSON, one object per line.</param>
    /// <param name="output">Where the replies go, one JSON object per line; nothing else writes to it.</param>
    /// <param name="maxLineBytes">A longer request line is refused with an <see cref="InvalidRequest"/> reply, unparsed.</param>
    /// <param name="cancellationToken">Ends the serving: the run in progress is stopped and the sandbox disposed.</param>
    public async Task RunAsync(PythonSandbox? sandbox, Stream input, Stream output, int maxLineBytes, CancellationToken cancellationToken)
    {
        var lines = new BoundedLineReader(input, maxLineBytes);
        try
        {
            while (await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (line.IsBlank)
                {
                    continue;
                }

                JsonElement? id = null;
                Action<Utf8JsonWriter> reply;
                try
                {
                    if (line.TooLong)
                    {
                        reply = Refusal($"the request line exceeds {maxLineBytes} bytes");
                    }
                    else if (!ServeRequest.TryParse(line.Bytes, maxTimeout, out var request, out var problem, out id))
                    {
                        reply = Refusal(problem);
                    }
                    else if (request.Shutdown)
                    {
                        return;
                    }
                    else
                    {
                        (reply, sandbox) = await ExecuteAsync(sandbox, request.Code, request.Inputs, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // A fault in the handling of one line costs that line's answer, never the server.
                    await diagnostics.WriteLineAsync($"pyodide-sandbox: a request failed in the server ({e.GetType().Name}); the sandbox was discarded").ConfigureAwait(false);
                    sandbox = await DiscardAsync(sandbox).ConfigureAwait(false);
                    reply = ServerError("the server failed to handle the request; the sandbox was discarded", stateLost: true);
                }

                await WriteAsync(output, id, reply, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await DiscardAsync(sandbox).ConfigureAwait(false);
        }
    }

    private static async Task<PythonSandbox?> DiscardAsync(PythonSandbox? sandbox)
    {
        if (sandbox is not null)
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }

        return null;
    }

    // A failure of the server's own (not of the code, not of the request), in the seed's reply shape.
    private static Action<Utf8JsonWriter> ServerError(string message, bool stateLost) => w =>
    {
        w.WriteString("error", "SandboxError: " + message);
        w.WriteString("error_type", "SandboxError");
        if (stateLost)
        {
            w.WriteBoolean("state_lost", true);
        }
    };

    private static Action<Utf8JsonWriter> Refusal(string problem) => w =>
    {
        w.WriteString("error", $"{InvalidRequest}: {problem}");
        w.WriteString("error_type", InvalidRequest);
    };

    private async Task<(Action<Utf8JsonWriter> Reply, PythonSandbox? Sandbox)> ExecuteAsync(
        PythonSandbox? sandbox, string code, RunInputs? inputs, CancellationToken cancellationToken)
    {
        var stateLost = false;
        if (sandbox is null || sandbox.IsFaulted)
        {
            stateLost = sandbox is not null;
            await DiscardAsync(sandbox).ConfigureAwait(false);
            try
            {
                sandbox = await createSandbox(cancellationToken).ConfigureAwait(false);
            }
            catch (SandboxException e)
            {
                await diagnostics.WriteLineAsync($"pyodide-sandbox: could not start a sandbox: {e.Message}").ConfigureAwait(false);
                return (ServerError("could not start a sandbox: " + e.Message, stateLost: true), null);
            }
        }

        SandboxResult result;
        try
        {
            result = await sandbox.RunAsync(code, inputs, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            // A global or a path that is not allowed: refused before anything ran; the sandbox is untouched.
            var message = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            return (w =>
            {
                Refusal(message)(w);
                if (stateLost)
                {
                    w.WriteBoolean("state_lost", true);
                }
            }, sandbox);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Never leave a request unanswered, whatever went wrong: discard the sandbox and say so.
            await diagnostics.WriteLineAsync($"pyodide-sandbox: run failed ({e.GetType().Name}); the sandbox was discarded").ConfigureAwait(false);
            await sandbox.DisposeAsync().ConfigureAwait(false);
            return (ServerError("the run failed and the sandbox was discarded", stateLost: true), null);
        }

        if (result.SandboxLost)
        {
            // Said once, in this reply; the next request gets a fresh sandbox as if it were the first.
            await diagnostics.WriteLineAsync($"pyodide-sandbox: sandbox discarded ({result.Error?.Summary}); the next request gets a fresh one").ConfigureAwait(false);
            sandbox = await DiscardAsync(sandbox).ConfigureAwait(false);
        }

        return (w =>
        {
            ReplyWriter.WriteResult(w, result, stateLost || result.SandboxLost);
            ReplyWriter.WriteFiles(w, result, inputs?.ReadFiles is not null);
        }, sandbox);
    }

    private static async Task WriteAsync(Stream output, JsonElement? id, Action<Utf8JsonWriter> writeProperties, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        try
        {
            Serialize(buffer, id, writeProperties);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // A reply that cannot be serialised still gets a line: one request, one reply.
            buffer.SetLength(0);
            Serialize(buffer, id, ServerError("the result could not be encoded as JSON", stateLost: false));
        }

        buffer.WriteByte((byte)'\n');
        await output.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void Serialize(MemoryStream buffer, JsonElement? id, Action<Utf8JsonWriter> writeProperties)
    {
        using var writer = new Utf8JsonWriter(buffer, ReplyWriter.Options);
        writer.WriteStartObject();
        if (id is { } requestId)
        {
            writer.WritePropertyName("id");
            requestId.WriteTo(writer);
        }

        writeProperties(writer);
        writer.WriteEndObject();
    }
}
