using System.Text.Json;
using System.Text.Json.Nodes;

namespace PyodideEmbedded;

/// <summary>The result a model receives from <see cref="PythonTool"/>: compact JSON, cut to a size cap.</summary>
internal static class ToolResult
{
    public static JsonElement Compact(SandboxResult result, int maxChars)
    {
        var status = result.Limit != SandboxLimit.None ? "limit-exceeded" : result.Error is null ? "success" : "run-error";
        var value = result.Value?.GetRawText();
        // What is cut first when the whole is over the cap: the least useful part to a model reading it.
        var budget = maxChars - 400; // the keys, status, limit and notes
        var error = Cut(result.Error?.Traceback, budget / 2, keepEnd: true); // a traceback's end says what happened
        budget -= error?.Length ?? 0;
        var stdout = Cut(result.Stdout, Math.Max(0, budget - Math.Min(value?.Length ?? 0, budget / 2) - Math.Min(result.Stderr.Length, budget / 4)), keepEnd: false);
        budget -= stdout?.Length ?? 0;
        var stderr = Cut(result.Stderr, Math.Max(0, budget - Math.Min(value?.Length ?? 0, budget / 2)), keepEnd: true);
        budget -= stderr?.Length ?? 0;
        var cutValue = value is not null && value.Length > budget;

        var json = new JsonObject { ["status"] = status };
        if (!string.IsNullOrEmpty(stdout))
        {
            json["stdout"] = stdout;
        }

        if (!string.IsNullOrEmpty(stderr))
        {
            json["stderr"] = stderr;
        }

        if (value is not null)
        {
            json["return_value"] = cutValue ? JsonValue.Create(Cut(value, Math.Max(0, budget), keepEnd: false)) : JsonNode.Parse(value);
            if (result.ValueIsRepr || cutValue)
            {
                json["return_value_note"] = cutValue ? "cut to fit: a prefix of the JSON" : "the value's repr: JSON cannot hold it";
            }
        }

        if (error is not null)
        {
            json["error"] = error;
        }

        if (result.Limit != SandboxLimit.None)
        {
            json["limit"] = LimitName(result.Limit);
        }

        if (result.SandboxLost)
        {
            json["state_lost"] = "the sandbox was discarded to stop this run: earlier variables, imports and files are gone";
        }

        if (result.StdoutTruncated || result.StderrTruncated || result.ValueTruncated)
        {
            json["truncated_by_sandbox"] = true;
        }

        return JsonSerializer.SerializeToElement(json);
    }

    public static JsonElement Refused(ArgumentException e) =>
        JsonSerializer.SerializeToElement(new JsonObject { ["status"] = "refused", ["error"] = Strip(e) });

    private static string? Cut(string? text, int max, bool keepEnd)
    {
        if (text is null || text.Length <= max)
        {
            return text;
        }

        const string Marker = "\n[... cut to fit the result's size cap ...]\n";
        var keep = Math.Max(0, max - Marker.Length);
        return keepEnd ? Marker + text[^keep..] : text[..keep] + Marker;
    }

    private static string Strip(ArgumentException e)
    {
        var at = e.ParamName is null ? -1 : e.Message.IndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return at >= 0 ? e.Message[..at] : e.Message;
    }

    internal static string LimitName(SandboxLimit limit) => limit switch
    {
        SandboxLimit.Time => "time",
        SandboxLimit.Memory => "memory",
        SandboxLimit.JsHeap => "js_heap",
        SandboxLimit.CodeSize => "code_size",
        SandboxLimit.FileSize => "file_size",
        SandboxLimit.EngineFailure => "engine_failure",
        _ => "none",
    };
}
