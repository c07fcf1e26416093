using System.Text;
using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace PyodideEmbedded.Cli.Mcp;

/// <summary>
/// A run's result as an MCP tool result: text a model reads well (tagged sections, as pydantic's mcp-run-python
/// writes them, so its users' prompts keep working), the same facts as structured content, and the files the code
/// wrote under <c>/out</c> (images as image content, the rest as embedded resources).
/// </summary>
internal static class ToolReply
{
    /// <summary>The URI scheme of files handed back: they are the sandbox's, never the host's.</summary>
    public const string UriPrefix = "sandbox://";

    private static readonly Dictionary<string, string> s_imageTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif", [".webp"] = "image/webp",
    };

    private static readonly Dictionary<string, string> s_textTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".txt"] = "text/plain", [".csv"] = "text/csv", [".json"] = "application/json", [".md"] = "text/markdown",
        [".html"] = "text/html", [".svg"] = "image/svg+xml", [".py"] = "text/x-python", [".log"] = "text/plain",
    };

    public static CallToolResult Build(SandboxResult result, SandboxResult? outFiles)
    {
        var status = result.Limit != SandboxLimit.None ? "limit-exceeded" : result.Error is null ? "success" : "run-error";
        var files = new List<RunPythonFile>();
        var content = new List<ContentBlock>();
        foreach (var (path, bytes) in (outFiles?.Files ?? new Dictionary<string, ReadOnlyMemory<byte>>()).OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var mime = MimeType(path, bytes.Span);
            files.Add(new RunPythonFile(path, mime, bytes.Length));
            content.Add(mime.StartsWith("image/", StringComparison.Ordinal) && mime != "image/svg+xml"
                ? ImageContentBlock.FromBytes(bytes, mime)
                : new EmbeddedResourceBlock { Resource = Resource(path, mime, bytes) });
        }

        foreach (var (path, reason) in outFiles?.FileErrors ?? new Dictionary<string, string>())
        {
            files.Add(new RunPythonFile(path, MimeType(path, default), 0, reason));
        }

        var output = new RunPythonOutput
        {
            Status = status,
            Stdout = result.Stdout,
            Stderr = result.Stderr,
            ReturnValue = result.Value,
            ReturnValueIsRepr = result.ValueIsRepr,
            Error = result.Error is { } e ? new RunPythonError(e.TypeName, e.Message, e.Traceback) : null,
            Limit = ExitCodes.LimitName(result.Limit),
            StateLost = result.SandboxLost,
            Truncated = [.. Truncations(result)],
            Files = files,
            ElapsedMs = Math.Round(result.Elapsed.TotalMilliseconds, 1),
        };
        content.Insert(0, new TextContentBlock { Text = Text(output) });
        return new CallToolResult
        {
            Content = content,
            StructuredContent = JsonSerializer.SerializeToElement(output),
        };
    }

    /// <summary>A refusal of the call itself (bad arguments, no sandbox free): the model sees it as a tool error.</summary>
    public static CallToolResult Refusal(string message) => new()
    {
        Content = [new TextContentBlock { Text = $"<status>refused</status>\n<error>\n{message}\n</error>" }],
        IsError = true,
    };

    private static string Text(RunPythonOutput output)
    {
        var text = new StringBuilder();
        text.Append("<status>").Append(output.Status).Append("</status>\n");
        Section(text, "output", output.Stdout);
        Section(text, "stderr", output.Stderr);
        if (output.ReturnValue is { } value)
        {
            Section(text, "return_value", value.GetRawText() + (output.ReturnValueIsRepr ? "  (repr: JSON cannot hold this value)" : ""));
        }

        if (output.Error is { } error)
        {
            Section(text, "error", error.Traceback);
        }

        if (output.Limit is { } limit)
        {
            Section(text, "limit", limit);
        }

        if (output.StateLost)
        {
            Section(text, "state_lost", "The sandbox was discarded to stop this run: variables, imports and files from earlier calls are gone. The next call starts in a fresh one.");
        }

        if (output.Truncated.Count > 0)
        {
            Section(text, "truncated", string.Join(", ", output.Truncated) + " cut at the server's output limit");
        }

        if (output.Files.Count > 0)
        {
            Section(text, "files", string.Join('\n', output.Files.Select(f => f.Error is null ? $"{f.Path} ({f.MimeType}, {f.Size} bytes)" : $"{f.Path}: {f.Error}")));
        }

        return text.ToString();
    }

    private static void Section(StringBuilder text, string tag, string body)
    {
        if (body.Length > 0)
        {
            text.Append('<').Append(tag).Append(">\n").Append(body.TrimEnd('\n')).Append("\n</").Append(tag).Append(">\n");
        }
    }

    private static IEnumerable<string> Truncations(SandboxResult result)
    {
        if (result.StdoutTruncated)
        {
            yield return "stdout";
        }

        if (result.StderrTruncated)
        {
            yield return "stderr";
        }

        if (result.ValueTruncated)
        {
            yield return "return_value";
        }
    }

    private static ResourceContents Resource(string path, string mime, ReadOnlyMemory<byte> bytes)
    {
        var uri = UriPrefix + path;
        if (mime.StartsWith("text/", StringComparison.Ordinal) || mime is "application/json" or "image/svg+xml")
        {
            try
            {
                return new TextResourceContents { Uri = uri, MimeType = mime, Text = new UTF8Encoding(false, true).GetString(bytes.Span) };
            }
            catch (DecoderFallbackException)
            {
                // not UTF-8 after all: as bytes
            }
        }

        return BlobResourceContents.FromBytes(bytes, uri, mime);
    }

    private static string MimeType(string path, ReadOnlySpan<byte> bytes)
    {
        var extension = Path.GetExtension(path);
        if (s_imageTypes.TryGetValue(extension, out var image) || s_textTypes.TryGetValue(extension, out image))
        {
            return image;
        }

        return bytes.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']) ? "image/png" : "application/octet-stream";
    }
}
