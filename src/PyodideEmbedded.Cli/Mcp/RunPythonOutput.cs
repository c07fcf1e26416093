using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>The structured content of a <c>run_python_code</c> result (its output schema is made from this type).</summary>
internal sealed record RunPythonOutput
{
    /// <summary><c>success</c>, <c>run-error</c> (the code raised) or <c>limit-exceeded</c> (a limit of the sandbox ended it).</summary>
    [JsonPropertyName("status")]
    public required string Status { get; init; }

    [JsonPropertyName("stdout")]
    public required string Stdout { get; init; }

    [JsonPropertyName("stderr")]
    public required string Stderr { get; init; }

    /// <summary>The last expression's value as JSON, or null.</summary>
    /// <remarks>The description also keeps its schema an object: a bare <c>true</c> schema is refused by some clients
    /// (the TypeScript SDK's validation).</remarks>
    [JsonPropertyName("return_value")]
    [Description("The value of the code's last expression, as JSON; null when it ended in a statement or an error.")]
    public JsonElement? ReturnValue { get; init; }

    /// <summary>Whether <see cref="ReturnValue"/> is the value's <c>repr</c> (JSON could not hold it).</summary>
    [JsonPropertyName("return_value_is_repr")]
    public bool ReturnValueIsRepr { get; init; }

    [JsonPropertyName("error")]
    public RunPythonError? Error { get; init; }

    /// <summary>The limit that ended the run: <c>time</c>, <c>memory</c>, <c>js_heap</c>, <c>code_size</c>,
    /// <c>file_size</c>, <c>engine_failure</c>; null when none did.</summary>
    [JsonPropertyName("limit")]
    public string? Limit { get; init; }

    /// <summary>Whether the session's sandbox was lost with this run: variables, imports and files are gone.</summary>
    [JsonPropertyName("state_lost")]
    public bool StateLost { get; init; }

    [JsonPropertyName("truncated")]
    public IReadOnlyList<string> Truncated { get; init; } = [];

    /// <summary>Files under <c>/out</c> that are new or changed since the last call (their bytes are in the content).</summary>
    [JsonPropertyName("files")]
    public IReadOnlyList<RunPythonFile> Files { get; init; } = [];

    [JsonPropertyName("elapsed_ms")]
    public double ElapsedMs { get; init; }
}

internal sealed record RunPythonError(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("traceback")] string Traceback);

internal sealed record RunPythonFile(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("mime_type")] string MimeType,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("error")] string? Error = null);
