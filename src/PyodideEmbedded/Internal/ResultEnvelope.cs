using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Reads the one JSON string that a run hands back across the V8 boundary (built by Bootstrap.js and
/// Runner.py). Everything in it is untrusted: code in the sandbox can rewrite the functions that
/// build it, so any shape error makes it invalid, and the output caps are applied again here.
/// </summary>
internal static class ResultEnvelope
{
    /// <param name="envelope">The JSON text from the sandbox.</param>
    /// <param name="maxOutputBytes">The output cap, applied again here.</param>
    /// <param name="result">The result, when the text is a valid envelope.</param>
    /// <param name="crashed">Set when the sandbox reports that its interpreter crashed (a WebAssembly trap or a
    /// fatal error in Pyodide): the host must not run anything in it again. A forged report only costs the
    /// forger its own sandbox.</param>
    public static bool TryParse(string envelope, int maxOutputBytes, out SandboxResult result, out bool crashed)
    {
        result = null!;
        crashed = false;
        // Three capped fields, JSON-escaped (up to 6 characters each), plus a bounded error.
        if (envelope.Length > (3L * maxOutputBytes * 6) + (1 << 20))
        {
            return false;
        }

        try
        {
            result = Parse(envelope, maxOutputBytes, out crashed);
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            return false;
        }
    }

    private static SandboxResult Parse(string envelope, int maxOutputBytes, out bool crashed)
    {
        using var document = JsonDocument.Parse(envelope, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        crashed = root.TryGetProperty("crashed", out var crash) && crash.GetBoolean();
        var result = root.GetProperty("result");
        var value = result.GetProperty("value");
        var error = result.GetProperty("error");
        var (stdout, stdoutCut) = Cap(ReadString(root, "stdout"), maxOutputBytes);
        var (stderr, stderrCut) = Cap(ReadString(root, "stderr"), maxOutputBytes);
        var parsed = new SandboxResult
        {
            Value = value.ValueKind == JsonValueKind.Null ? null : value.Clone(),
            ValueIsRepr = result.GetProperty("repr").GetBoolean(),
            ValueTruncated = result.GetProperty("truncated").GetBoolean(),
            Stdout = stdout,
            StdoutTruncated = root.GetProperty("stdoutTruncated").GetBoolean() || stdoutCut,
            Stderr = stderr,
            StderrTruncated = root.GetProperty("stderrTruncated").GetBoolean() || stderrCut,
            Error = error.ValueKind == JsonValueKind.Null ? null : ReadError(error),
        };
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

        return parsed;
    }

    private static PythonError ReadError(JsonElement error) => new(
        Cap(ReadString(error, "type"), 1024).Text,
        Cap(ReadString(error, "message"), 64 * 1024).Text,
        Cap(ReadString(error, "line"), 64 * 1024).Text,
        Cap(ReadString(error, "traceback"), 256 * 1024).Text);

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
