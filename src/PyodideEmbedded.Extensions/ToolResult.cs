using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PyodideEmbedded;

/// <summary>The result a model receives from <see cref="PythonTool"/>: compact JSON, cut to a size cap.</summary>
internal static class ToolResult
{
    private const string CutMarker = "\n[... cut to fit the result's size cap ...]\n";

    // Relaxed: a model should read "<module>" in a traceback, not "\u003Cmodule\u003E".
    private static readonly JsonSerializerOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The result as JSON whose text is at most <paramref name="maxChars"/> characters.</summary>
    public static JsonElement Compact(SandboxResult result, int maxChars)
    {
        // Budgets count the characters of the JSON (escapes included); the loop only guards the estimate.
        var budget = maxChars - 400; // the keys, status, limit and notes
        while (true)
        {
            var json = Build(result, budget);
            var length = JsonSerializer.Serialize(json, s_options).Length;
            if (length <= maxChars || budget <= 0)
            {
                return json;
            }

            budget -= Math.Max(length - maxChars, 64);
        }
    }

    public static JsonElement Refused(ArgumentException e) =>
        JsonSerializer.SerializeToElement(new JsonObject { ["status"] = "refused", ["error"] = Strip(e) }, s_options);

    private static JsonElement Build(SandboxResult result, int budget)
    {
        var status = result.Limit != SandboxLimit.None ? "limit-exceeded" : result.Error is null ? "success" : "run-error";
        var value = result.Value?.GetRawText();
        var valueLength = value?.Length ?? 0;
        // Shares of the budget, in the order a model needs them: the end of a traceback says what happened, then
        // what the code printed, then the value, then stderr. A part that needs less leaves the rest to the others.
        var error = Cut(result.Error?.Traceback, budget / 2, keepEnd: true);
        budget -= JsonLength(error);
        var stdout = Cut(result.Stdout, Math.Max(0, budget - Math.Min(valueLength, budget / 2) - Math.Min(JsonLength(result.Stderr), budget / 4)), keepEnd: false);
        budget -= JsonLength(stdout);
        var stderr = Cut(result.Stderr, Math.Max(0, budget - Math.Min(valueLength, budget / 2)), keepEnd: true);
        budget -= JsonLength(stderr);
        var cutValue = value is not null && valueLength > budget;

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

        return JsonSerializer.SerializeToElement(json, s_options);
    }

    // Keeps the start (or the end) of the text whose JSON takes at most max characters, marking the cut.
    private static string? Cut(string? text, int max, bool keepEnd)
    {
        if (text is null || JsonLength(text) <= max)
        {
            return text;
        }

        var room = max - JsonLength(CutMarker);
        var kept = 0;
        for (var used = 0; kept < text.Length; kept++)
        {
            var next = JsonLength(text[keepEnd ? text.Length - 1 - kept : kept]);
            if (used + next > room)
            {
                break;
            }

            used += next;
        }

        return keepEnd ? CutMarker + text[^kept..] : text[..kept] + CutMarker;
    }

    private static int JsonLength(string? text)
    {
        var length = 0;
        foreach (var c in text ?? "")
        {
            length += JsonLength(c);
        }

        return length;
    }

    // What one character takes in relaxed JSON: two for the short escapes, six for \uXXXX.
    private static int JsonLength(char c) => c switch
    {
        '"' or '\\' or '\n' or '\r' or '\t' or '\b' or '\f' => 2,
        < ' ' => 6,
        _ => 1,
    };

    private static string Strip(ArgumentException e)
    {
        var at = e.ParamName is null ? -1 : e.Message.IndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return at >= 0 ? e.Message[..at] : e.Message;
    }

    // The names the CLI's replies use (time, js_heap, engine_failure...), and "none".
    internal static string LimitName(SandboxLimit limit) => JsonNamingPolicy.SnakeCaseLower.ConvertName(limit.ToString());
}
