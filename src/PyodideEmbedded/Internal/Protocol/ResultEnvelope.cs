using System.Text;
using System.Text.Json;
using PyodideEmbedded.Internal.Protocol;

namespace PyodideEmbedded.Internal;

/// <summary>What a run's envelope says, beyond its result.</summary>
/// <param name="Result">The result, with the output caps applied again.</param>
/// <param name="Crashed">The interpreter crashed (a WebAssembly trap, a fatal error in Pyodide): the host must not
/// run anything in it again. A forged report only costs the forger its own sandbox.</param>
/// <param name="MemoryRefused">The memory limit refused Python memory during the run.</param>
/// <param name="Interrupted">Python took the host's soft interrupt during the run.</param>
internal sealed record ParsedEnvelope(SandboxResult Result, bool Crashed, bool MemoryRefused, bool Interrupted);

/// <summary>
/// Reads the one JSON string that a run hands back across the V8 boundary (written by Bootstrap.js around
/// Runner.py's result record; the keys are <see cref="EnvelopeKeys"/>). Everything in it is untrusted: code
/// in the sandbox can rewrite the functions that build it, so any shape error makes it invalid, and the
/// output caps are applied again here.
/// </summary>
internal static class ResultEnvelope
{
    public static ParsedEnvelope? TryParse(string envelope, int maxOutputBytes)
    {
        // Three capped fields, JSON-escaped (up to 6 characters each), plus a bounded error.
        if (envelope.Length > (3L * maxOutputBytes * 6) + (1 << 20))
        {
            return null;
        }

        try
        {
            return Parse(envelope, maxOutputBytes);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static ParsedEnvelope Parse(string envelope, int maxOutputBytes)
    {
        using var document = JsonDocument.Parse(envelope, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        var (stdout, stdoutCut) = Cap(ReadString(root, EnvelopeKeys.Stdout), maxOutputBytes);
        var (stderr, stderrCut) = Cap(ReadString(root, EnvelopeKeys.Stderr), maxOutputBytes);
        var parsed = new SandboxResult
        {
            Stdout = stdout,
            StdoutTruncated = root.GetProperty(EnvelopeKeys.StdoutTruncated).GetBoolean() || stdoutCut,
            Stderr = stderr,
            StderrTruncated = root.GetProperty(EnvelopeKeys.StderrTruncated).GetBoolean() || stderrCut,
        };
        if (root.TryGetProperty(EnvelopeKeys.Result, out var result))
        {
            var value = result.GetProperty(EnvelopeKeys.Value);
            var error = result.GetProperty(EnvelopeKeys.Error);
            parsed = parsed with
            {
                Value = value.ValueKind == JsonValueKind.Null ? null : value.Clone(),
                ValueIsRepr = result.GetProperty(EnvelopeKeys.Repr).GetBoolean(),
                ValueTruncated = result.GetProperty(EnvelopeKeys.Truncated).GetBoolean(),
                Error = error.ValueKind == JsonValueKind.Null ? null : ReadError(error),
            };
        }
        else
        {
            parsed = parsed with { Error = ReadError(root.GetProperty(EnvelopeKeys.Failure)) };
        }

        if (parsed.Value is { } unreadable && !IsWritable(unreadable))
        {
            // A forged value with lone surrogate escapes: no JSON writer would accept it.
            parsed = parsed with { Value = CappedJsonString(ErrorText.ReplaceLoneSurrogateEscapes(JsonSerializer.Serialize(unreadable.GetRawText())), maxOutputBytes), ValueIsRepr = true };
        }

        if (parsed.Value is { } json && Encoding.UTF8.GetByteCount(json.GetRawText()) > maxOutputBytes)
        {
            // Only a forged envelope gets here (the runner caps the value itself): keep the start of
            // the JSON text, as a string whose own JSON form fits the cap.
            parsed = parsed with { Value = CappedJsonString(json.GetRawText(), maxOutputBytes), ValueIsRepr = true, ValueTruncated = true };
        }

        return new ParsedEnvelope(parsed, Flag(root, EnvelopeKeys.Crashed), Flag(root, EnvelopeKeys.MemoryRefused), Flag(root, EnvelopeKeys.Interrupted));
    }

    private static bool Flag(JsonElement root, string name) => root.TryGetProperty(name, out var flag) && flag.GetBoolean();

    private static PythonError ReadError(JsonElement error) => new(
        Cap(ReadString(error, EnvelopeKeys.Type), 1024).Text,
        Cap(ReadString(error, EnvelopeKeys.Message), 64 * 1024).Text,
        Cap(ReadString(error, EnvelopeKeys.Line), 64 * 1024).Text,
        Cap(ReadString(error, EnvelopeKeys.Traceback), 256 * 1024).Text);

    // Python strings may hold lone surrogates, which arrive as \udXXX escapes that .NET refuses to decode.
    private static string ReadString(JsonElement element, string name)
    {
        var property = element.GetProperty(name);
        try
        {
            return property.GetString() ?? "";
        }
        catch (InvalidOperationException) when (property.ValueKind == JsonValueKind.String)
        {
            return ErrorText.ReplaceLoneSurrogateEscapes(property.GetRawText());
        }
    }

    private static bool IsWritable(JsonElement value)
    {
        try
        {
            using var writer = new Utf8JsonWriter(Stream.Null);
            value.WriteTo(writer);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static JsonElement CappedJsonString(string text, int maxBytes)
    {
        var (cut, _) = Cap(text, maxBytes - 2);
        var element = JsonSerializer.SerializeToElement(cut);
        for (var excess = Encoding.UTF8.GetByteCount(element.GetRawText()) - maxBytes; excess > 0; excess = Encoding.UTF8.GetByteCount(element.GetRawText()) - maxBytes)
        {
            cut = cut[..Math.Max(0, cut.Length - Math.Max(1, excess / 2))];
            element = JsonSerializer.SerializeToElement(cut);
        }

        return element;
    }

    /// <summary>Cuts text to at most <paramref name="maxBytes"/> UTF-8 bytes, at a character boundary.</summary>
    internal static (string Text, bool Cut) Cap(string text, int maxBytes)
    {
        if (text.Length <= maxBytes / 3 || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return (text, false);
        }

        var bytes = 0;
        var end = 0;
        while (end < text.Length)
        {
            var width = char.IsSurrogatePair(text, end) ? 2 : 1;
            var size = width == 2 ? 4 : Encoding.UTF8.GetByteCount(text.AsSpan(end, 1));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            end += width;
        }

        return (text[..end], true);
    }
}
