using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>How <c>pyodide-sandbox run</c> shows a result: Python's output as it was, then the value.</summary>
internal static class RunOutput
{
    public static async Task WriteAsync(SandboxResult result, bool asJson, TextWriter stdout, TextWriter stderr)
    {
        if (asJson)
        {
            // The same object as a serve reply (with "files" when files were read back).
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, ReplyWriter.Options))
            {
                writer.WriteStartObject();
                ReplyWriter.WriteResult(writer, result, result.SandboxLost);
                ReplyWriter.WriteFiles(writer, result, asked: result.Files.Count + result.FileErrors.Count > 0);
                writer.WriteEndObject();
            }

            await stdout.WriteLineAsync(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length)).ConfigureAwait(false);
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
