using System.Text.Json;

namespace PyodideEmbedded.Internal;

/// <summary>Reads the one JSON string that a run hands back across the V8 boundary (built by Bootstrap.js and Runner.py).</summary>
internal static class ResultEnvelope
{
    public static SandboxResult Parse(string envelope)
    {
        using var document = JsonDocument.Parse(envelope, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        var result = root.GetProperty("result");
        var value = result.GetProperty("value");
        var error = result.GetProperty("error");
        return new SandboxResult
        {
            Value = value.ValueKind == JsonValueKind.Null ? null : value.Clone(),
            ValueIsRepr = result.GetProperty("repr").GetBoolean(),
            ValueTruncated = result.GetProperty("truncated").GetBoolean(),
            Stdout = root.GetProperty("stdout").GetString() ?? "",
            StdoutTruncated = root.GetProperty("stdoutTruncated").GetBoolean(),
            Stderr = root.GetProperty("stderr").GetString() ?? "",
            StderrTruncated = root.GetProperty("stderrTruncated").GetBoolean(),
            Error = error.ValueKind == JsonValueKind.Null ? null : ReadError(error),
        };
    }

    private static PythonError ReadError(JsonElement error) => new(
        ReadString(error, "type"), ReadString(error, "message"), ReadString(error, "line"), ReadString(error, "traceback"));

    // Python strings may hold lone surrogates, which arrive as \udXXX escapes that .NET refuses to decode.
    private static string ReadString(JsonElement element, string name)
    {
        var property = element.GetProperty(name);
        try
        {
            return property.GetString() ?? "";
        }
        catch (InvalidOperationException)
        {
            return ErrorText.ReplaceLoneSurrogateEscapes(property.GetRawText());
        }
    }
}
