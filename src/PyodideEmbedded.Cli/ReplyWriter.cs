using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>
/// Writes a run's result as a JSON object: one shape for <c>serve</c>'s replies and <c>run --json</c>, so a
/// client reads both the same way.
/// </summary>
internal static class ReplyWriter
{
    public static readonly JsonWriterOptions Options = new()
    {
        Indented = false,
        // Replies are JSON lines for programs, not HTML: keep quotes and non-ASCII text readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The result's fields, as the seed runner's replies have them plus ours: output or error, streams, limit, state_lost.</summary>
    public static void WriteResult(Utf8JsonWriter w, SandboxResult result, bool stateLost)
    {
        if (result.Error is { } error)
        {
            w.WriteString("error", Clean(error.Summary));
            w.WriteString("error_type", Clean(error.TypeName));
            w.WriteString("traceback", Clean(error.Traceback));
            if (ExitCodes.LimitName(result.Limit) is { } limit)
            {
                w.WriteString("limit", limit);
            }
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

    /// <summary>Adds <c>"files"</c> (when files were asked for) and <c>"file_errors"</c> (when some could not be read).</summary>
    public static void WriteFiles(Utf8JsonWriter w, SandboxResult result, bool asked)
    {
        if (asked)
        {
            w.WriteStartObject("files");
            foreach (var (path, bytes) in result.Files)
            {
                w.WriteBase64String(path, bytes.Span);
            }

            w.WriteEndObject();
        }

        if (result.FileErrors.Count > 0)
        {
            w.WriteStartObject("file_errors");
            foreach (var (path, reason) in result.FileErrors)
            {
                w.WriteString(path, reason);
            }

            w.WriteEndObject();
        }
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
