using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>
/// One <c>serve</c> request line, read strictly in one place: valid UTF-8 JSON, one object, no duplicate
/// key at any level, no lone surrogate in any string or key, only the fields below, each of its own type.
/// Anything else is refused with a message that names the problem, before any sandbox sees it.
/// </summary>
/// <remarks>
/// Fields: <c>code</c> (string), <c>globals</c> (object), <c>files</c> (object of sandbox path to base64),
/// <c>read_files</c> (array of sandbox paths), <c>timeout_ms</c> (integer, at most the server's limit),
/// <c>id</c> (string, number or null, echoed in the reply), <c>shutdown</c> (boolean).
/// </remarks>
internal sealed class ServeRequest
{
    /// <summary>Deepest nesting accepted in a request line (globals included).</summary>
    public const int MaxDepth = 64;

    private static readonly JsonDocumentOptions s_documentOptions = new()
    {
        MaxDepth = MaxDepth,
        AllowDuplicateProperties = false,
    };

    private static readonly string[] s_fields = ["code", "globals", "files", "read_files", "timeout_ms", "id", "shutdown"];

    private ServeRequest(JsonElement? id) => Id = id;

    /// <summary>The request's <c>id</c>, echoed as the reply's; null when it had none.</summary>
    public JsonElement? Id { get; }

    public bool Shutdown { get; private init; }

    public string Code { get; private init; } = "";

    public RunInputs? Inputs { get; private init; }

    /// <summary>
    /// Reads one line. On failure, <paramref name="error"/> names the problem and <paramref name="id"/> holds the
    /// request's id when it could be read, so that even a refusal can be matched to its request.
    /// </summary>
    public static bool TryParse(ReadOnlyMemory<byte> line, TimeSpan maxTimeout, out ServeRequest request, out string error, out JsonElement? id)
    {
        request = null!;
        id = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, s_documentOptions);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            // From bytes, only a key the duplicate check decodes can fail to be Unicode here.
            error = ParseFailure(e, "the line ", "a key");
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"a request is a JSON object, not {Describe(root.ValueKind)}";
                return false;
            }

            // The id first, so that every later refusal can carry it.
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.Null))
                {
                    error = $"\"id\" must be a string, a number or null, not {Describe(idElement.ValueKind)}";
                    return false;
                }

                if (FindInvalidText(idElement, "id") is null)
                {
                    id = idElement.Clone();
                }
            }

            if (FindInvalidText(root, "") is { } where)
            {
                error = $"{where} is not valid Unicode (invalid UTF-8 or a lone surrogate)";
                return false;
            }

            return TryRead(root, id, maxTimeout, out request, out error);
        }
    }

    private static bool TryRead(JsonElement root, JsonElement? id, TimeSpan maxTimeout, out ServeRequest request, out string error)
    {
        request = null!;
        foreach (var property in root.EnumerateObject())
        {
            if (!s_fields.Contains(property.Name, StringComparer.Ordinal))
            {
                error = $"unknown field \"{Printable(property.Name)}\" (a request may have: {string.Join(", ", s_fields)})";
                return false;
            }
        }

        var shuttingDown = false;
        if (root.TryGetProperty("shutdown", out var shutdown))
        {
            if (shutdown.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                error = $"\"shutdown\" must be true or false, not {Describe(shutdown.ValueKind)}";
                return false;
            }

            shuttingDown = shutdown.ValueKind == JsonValueKind.True;
        }

        // Every field is checked, also beside "shutdown": a malformed line never ends the server.
        var hasCode = root.TryGetProperty("code", out var code);
        if (hasCode && code.ValueKind != JsonValueKind.String)
        {
            error = $"\"code\" must be a string, not {Describe(code.ValueKind)}";
            return false;
        }

        if (!hasCode && !shuttingDown)
        {
            error = "the request has no \"code\"";
            return false;
        }

        if (!TryReadInputs(root, maxTimeout, out var inputs, out error))
        {
            return false;
        }

        request = shuttingDown
            ? new ServeRequest(id) { Shutdown = true }
            : new ServeRequest(id) { Code = code.GetString()!, Inputs = inputs };
        return true;
    }

    private static bool TryReadInputs(JsonElement root, TimeSpan maxTimeout, out RunInputs? inputs, out string error)
    {
        inputs = null;
        error = "";
        Dictionary<string, object?>? globals = null;
        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        List<string>? readFiles = null;
        TimeSpan? timeout = null;
        if (root.TryGetProperty("globals", out var globalsElement))
        {
            if (globalsElement.ValueKind != JsonValueKind.Object)
            {
                error = $"\"globals\" must be an object of names to values, not {Describe(globalsElement.ValueKind)}";
                return false;
            }

            globals = GlobalsFrom(globalsElement);
        }

        if (root.TryGetProperty("files", out var filesElement))
        {
            if (filesElement.ValueKind != JsonValueKind.Object)
            {
                error = $"\"files\" must be an object of sandbox paths to base64 contents, not {Describe(filesElement.ValueKind)}";
                return false;
            }

            files = new(StringComparer.Ordinal);
            foreach (var property in filesElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String || !property.Value.TryGetBytesFromBase64(out var bytes))
                {
                    error = $"\"files\": the content of '{Printable(property.Name)}' is not a base64 string";
                    return false;
                }

                files[property.Name] = bytes;
            }
        }

        if (root.TryGetProperty("read_files", out var readElement))
        {
            if (readElement.ValueKind != JsonValueKind.Array || readElement.EnumerateArray().Any(static e => e.ValueKind != JsonValueKind.String))
            {
                error = "\"read_files\" must be an array of sandbox paths (strings)";
                return false;
            }

            readFiles = readElement.EnumerateArray().Select(static e => e.GetString()!).ToList();
        }

        if (root.TryGetProperty("timeout_ms", out var timeoutElement))
        {
            var maxMs = (long)maxTimeout.TotalMilliseconds;
            if (timeoutElement.ValueKind != JsonValueKind.Number || !timeoutElement.TryGetInt64(out var ms) || ms < 1 || ms > maxMs)
            {
                error = $"\"timeout_ms\" must be a whole number of milliseconds from 1 to {maxMs} (the server's --timeout-ms)";
                return false;
            }

            timeout = TimeSpan.FromMilliseconds(ms);
        }

        if (globals is not null || files is not null || readFiles is not null || timeout is not null)
        {
            inputs = new RunInputs { Globals = globals, Files = files, ReadFiles = readFiles, Timeout = timeout };
        }

        return true;
    }

    /// <summary>Reads <c>run --globals</c> text by the same rules as a request's <c>"globals"</c>.</summary>
    public static bool TryParseGlobals(string json, out Dictionary<string, object?> globals, out string error)
    {
        globals = [];
        try
        {
            using var document = JsonDocument.Parse(json, s_documentOptions);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = $"must be a JSON object of names to values, not {Describe(document.RootElement.ValueKind)}";
                return false;
            }

            if (FindInvalidText(document.RootElement, "") is { } where)
            {
                error = $"{where} is not valid Unicode (a lone surrogate)";
                return false;
            }

            globals = GlobalsFrom(document.RootElement);
            error = "";
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            // A lone surrogate in the text itself cannot even be transcoded to UTF-8 for the parser.
            error = ParseFailure(e, "", "text");
            return false;
        }
    }

    // Why the parser refused a text: `subject` starts the message ("the line " or nothing), `what` names what
    // could not be read as Unicode.
    private static string ParseFailure(Exception e, string subject, string what) => e switch
    {
        JsonException json when json.Message.Contains("Duplicate property", StringComparison.Ordinal) => $"a key appears twice in one object ({Position(json)})",
        JsonException json => $"{subject}is not valid JSON ({Position(json)})",
        _ => $"{subject}holds {what} that is not valid Unicode (a lone surrogate)",
    };

    // A JSON object's properties as RunInputs.Globals (copies, independent of the document).
    private static Dictionary<string, object?> GlobalsFrom(JsonElement jsonObject)
    {
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in jsonObject.EnumerateObject())
        {
            // Duplicates were refused by the parser; TryAdd keeps a second one from ever throwing here.
            globals.TryAdd(property.Name, property.Value.Clone());
        }

        return globals;
    }

    // The path of the first string or key that cannot be read as UTF-16 text, or null when all can.
    private static string? FindInvalidText(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String when !CanRead(element):
                return path.Length == 0 ? "a string" : $"the string at {path}";
            case JsonValueKind.Object:
                var index = 0;
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        return $"key {index} of {(path.Length == 0 ? "the request" : path)}";
                    }

                    if (FindInvalidText(property.Value, path.Length == 0 ? Printable(name) : $"{path}.{Printable(name)}") is { } found)
                    {
                        return found;
                    }

                    index++;
                }

                return null;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FindInvalidText(item, $"{path}[{i++}]") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static bool CanRead(JsonElement text)
    {
        try
        {
            _ = text.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string Position(JsonException e) => e.BytePositionInLine is { } at ? $"at byte {at}" : "at its end";

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    // A name from the request, quoted back in a message: short, and no control characters.
    private static string Printable(string name)
    {
        var end = Math.Min(name.Length, 64);
        if (end < name.Length && char.IsHighSurrogate(name[end - 1]))
        {
            end--;
        }

        var cut = end < name.Length ? name[..end] + "..." : name;
        return string.Concat(cut.Select(static c => char.IsControl(c) ? '?' : c));
    }
}
