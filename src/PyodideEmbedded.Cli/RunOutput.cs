using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>How <c>pyodide-sandbox run</c> shows a result: Python's output as it was, then the value.</summary>
internal static class RunOutput
{
    public static async Task WriteAsync(SandboxResult result, bool asJson, TextWriter stdout, TextWriter stderr)
    {
        if (asJson)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(new
            {
                output = result.Value,
                output_is_repr = result.ValueIsRepr,
                stdout = result.Stdout,
                stderr = result.Stderr,
                error = result.Error?.Summary,
                traceback = result.Error?.Traceback,
                files = result.Files, // bytes as base64
                file_errors = result.FileErrors,
            })).ConfigureAwait(false);
            return;
        }

        await stdout.WriteAsync(result.Stdout).ConfigureAwait(false);
        await stderr.WriteAsync(result.Stderr).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            await stderr.WriteAsync(error.Traceback).ConfigureAwait(false);
        }
        else if (result.Value is { } value)
        {
            // A string prints as itself (like Python's REPL would show its value, minus the quotes).
            await stdout.WriteLineAsync(value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()).ConfigureAwait(false);
        }
    }
}
