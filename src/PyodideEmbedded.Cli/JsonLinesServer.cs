using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>
/// The JSON-lines protocol of the Deno <c>runner.js</c> it replaces: one request object per line in,
/// exactly one reply object per line out, in order. Only this class writes to the output stream, and
/// it writes only replies it serialised itself, so nothing the Python code prints can forge a line.
/// </summary>
internal sealed class JsonLinesServer(Func<CancellationToken, Task<PythonSandbox>> createSandbox, TextWriter diagnostics)
{
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Indented = false,
        // Replies are JSON lines for programs, not HTML: keep quotes and non-ASCII text readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Serves until end of input or a <c>{"shutdown": true}</c> request.</summary>
    /// <param name="sandbox">The sandbox to start with (the server owns and disposes it), or null to start one on the first request.</param>
    public async Task RunAsync(PythonSandbox? sandbox, Stream input, Stream output, int maxLineBytes, CancellationToken cancellationToken)
    {
        var lines = new BoundedLineReader(input, maxLineBytes);
        try
        {
            while (await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (line.TooLong)
                {
                    await WriteAsync(output, w => w.WriteString("error", $"Invalid JSON input: the request line exceeds {maxLineBytes} bytes"), cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (string.IsNullOrWhiteSpace(line.Text))
                {
                    continue;
                }

                var request = Parse(line.Text, out var parseError);
                if (request is null)
                {
                    await WriteAsync(output, w => w.WriteString("error", parseError), cancellationToken).ConfigureAwait(false);
                    continue;
                }

                using (request)
                {
                    var root = request.RootElement;
                    if (root.TryGetProperty("shutdown", out var shutdown) && shutdown.ValueKind == JsonValueKind.True)
                    {
                        return;
                    }

                    if (!root.TryGetProperty("code", out var codeElement) || codeElement.ValueKind != JsonValueKind.String)
                    {
                        await WriteAsync(output, w => w.WriteString("error", "Input has no \"code\" string"), cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    if (!RequestInputs.TryRead(root, out var inputs, out var inputError))
                    {
                        await WriteAsync(output, w => w.WriteString("error", inputError), cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    var (reply, replacedSandbox) = await ExecuteAsync(sandbox, codeElement.GetString()!, inputs, cancellationToken).ConfigureAwait(false);
                    sandbox = replacedSandbox;
                    await WriteAsync(output, reply, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (sandbox is not null)
            {
                await sandbox.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<(Action<Utf8JsonWriter> Reply, PythonSandbox? Sandbox)> ExecuteAsync(
        PythonSandbox? sandbox, string code, RunInputs? inputs, CancellationToken cancellationToken)
    {
        var stateLost = false;
        if (sandbox is null || sandbox.IsFaulted)
        {
            stateLost = sandbox is not null;
            sandbox?.Dispose();
            try
            {
                sandbox = await createSandbox(cancellationToken).ConfigureAwait(false);
            }
            catch (SandboxException e)
            {
                await diagnostics.WriteLineAsync($"pyodide-sandbox: could not start a sandbox: {e.Message}").ConfigureAwait(false);
                return (w => w.WriteString("error", "SandboxError: could not start a sandbox: " + e.Message), null);
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
            var message = "Invalid input: " + e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            return (w =>
            {
                w.WriteString("error", message);
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
            return (w => { w.WriteString("error", "SandboxError: the run failed and the sandbox was discarded"); w.WriteBoolean("state_lost", true); }, null);
        }

        if (result.SandboxLost)
        {
            await diagnostics.WriteLineAsync($"pyodide-sandbox: sandbox discarded ({result.Error?.Summary}); the next request gets a fresh one").ConfigureAwait(false);
        }

        return (w =>
        {
            WriteResult(w, result, stateLost || result.SandboxLost);
            RequestInputs.WriteFiles(w, result, inputs?.ReadFiles is not null);
        }, sandbox);
    }

    private static void WriteResult(Utf8JsonWriter w, SandboxResult result, bool stateLost)
    {
        if (result.Error is { } error)
        {
            w.WriteString("error", Clean(error.Summary));
            w.WriteString("error_type", Clean(error.TypeName));
            w.WriteString("traceback", Clean(error.Traceback));
        }
        else
        {
            w.WritePropertyName("output");
            if (result.Value is { } value)
            {
                value.WriteTo(w);
            }
            else
            {
                w.WriteNullValue();
            }

            if (result.ValueIsRepr)
            {
                w.WriteBoolean("output_is_repr", true);
            }

            if (result.ValueTruncated)
            {
                w.WriteBoolean("output_truncated", true);
            }
        }

        w.WriteString("stdout", Clean(result.Stdout));
        w.WriteString("stderr", Clean(result.Stderr));
        if (result.StdoutTruncated)
        {
            w.WriteBoolean("stdout_truncated", true);
        }

        if (result.StderrTruncated)
        {
            w.WriteBoolean("stderr_truncated", true);
        }

        if (stateLost)
        {
            w.WriteBoolean("state_lost", true);
        }
    }

    private static JsonDocument? Parse(string line, out string error)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            error = "Invalid JSON input: " + e.Message;
            return null;
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            error = "Input is not a JSON object";
            return null;
        }

        error = "";
        return document;
    }

    private static async Task WriteAsync(Stream output, Action<Utf8JsonWriter> writeProperties, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        try
        {
            Serialize(buffer, writeProperties);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // A reply that cannot be serialised still gets a line: one request, one reply.
            buffer.SetLength(0);
            Serialize(buffer, w => w.WriteString("error", "SandboxError: the result could not be encoded as JSON"));
        }

        buffer.WriteByte((byte)'\n');
        await output.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void Serialize(MemoryStream buffer, Action<Utf8JsonWriter> writeProperties)
    {
        using var writer = new Utf8JsonWriter(buffer, s_writerOptions);
        writer.WriteStartObject();
        writeProperties(writer);
        writer.WriteEndObject();
    }

    // Utf8JsonWriter rejects lone surrogates; Python strings may carry them.
    private static string Clean(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        foreach (var rune in EnumerateRunesLossy(text))
        {
            builder.Append(rune.ToString());
        }

        return builder.ToString();
    }

    private static IEnumerable<Rune> EnumerateRunesLossy(string text)
    {
        for (var i = 0; i < text.Length;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
                consumed = Math.Max(consumed, 1);
            }

            yield return rune;
            i += consumed;
        }
    }
}
