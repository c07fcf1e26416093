using System.Text.Json;

namespace PyodideEmbedded.Cli;

/// <summary>
/// The data fields of a <c>serve</c> request and reply: <c>"globals"</c> (an object, set as Python globals),
/// <c>"files"</c> (sandbox path to base64, written before the run) and <c>"read_files"</c> (paths read back
/// after it, into the reply's <c>"files"</c>, with <c>"file_errors"</c> for those that could not be read).
/// </summary>
internal static class RequestInputs
{
    /// <summary>A JSON object's properties as <see cref="RunInputs.Globals"/> (copies, independent of the document).</summary>
    public static Dictionary<string, object?> GlobalsFrom(JsonElement jsonObject) =>
        jsonObject.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());

    /// <summary>Reads the optional data fields; false with a message for the reply when one is malformed.</summary>
    public static bool TryRead(JsonElement request, out RunInputs? inputs, out string error)
    {
        inputs = null;
        error = "";
        Dictionary<string, object?>? globals = null;
        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        List<string>? readFiles = null;
        if (request.TryGetProperty("globals", out var globalsElement))
        {
            if (globalsElement.ValueKind != JsonValueKind.Object)
            {
                error = "Invalid \"globals\": expected an object of names to values";
                return false;
            }

            globals = GlobalsFrom(globalsElement);
        }

        if (request.TryGetProperty("files", out var filesElement))
        {
            if (filesElement.ValueKind != JsonValueKind.Object)
            {
                error = "Invalid \"files\": expected an object of sandbox paths to base64 contents";
                return false;
            }

            files = [];
            foreach (var property in filesElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String || !property.Value.TryGetBytesFromBase64(out var bytes))
                {
                    error = $"Invalid \"files\": the content of '{property.Name}' is not a base64 string";
                    return false;
                }

                files[property.Name] = bytes;
            }
        }

        if (request.TryGetProperty("read_files", out var readElement))
        {
            if (readElement.ValueKind != JsonValueKind.Array || readElement.EnumerateArray().Any(static e => e.ValueKind != JsonValueKind.String))
            {
                error = "Invalid \"read_files\": expected an array of sandbox paths";
                return false;
            }

            readFiles = readElement.EnumerateArray().Select(static e => e.GetString()!).ToList();
        }

        if (globals is not null || files is not null || readFiles is not null)
        {
            inputs = new RunInputs { Globals = globals, Files = files, ReadFiles = readFiles };
        }

        return true;
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
}
