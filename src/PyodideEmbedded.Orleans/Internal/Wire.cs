using System.Collections.ObjectModel;
using System.Text;
using System.Text.Json;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Orleans.Internal;

/// <summary>A run as it crosses the network: code and inputs, with the globals already turned into JSON text on the
/// caller's side (by the library's own rules, so a value means the same as in a local run).</summary>
[GenerateSerializer, Immutable]
internal sealed record SandboxRunRequest
{
    [Id(0)] public required string Code { get; init; }

    [Id(1)] public string? GlobalsJson { get; init; }

    [Id(2)] public Dictionary<string, byte[]>? Files { get; init; }

    [Id(3)] public string[]? ReadFiles { get; init; }

    [Id(4)] public TimeSpan? Timeout { get; init; }

    /// <summary>For a session: the activation the caller last talked to; null when the caller has not used the session
    /// (or not within its idle timeout).</summary>
    [Id(5)] public Guid? ExpectedGeneration { get; init; }
}

/// <summary>A <see cref="SandboxResult"/> as it crosses the network (the value as JSON text), with the session's
/// activation and the silo that ran it.</summary>
[GenerateSerializer, Immutable]
internal sealed record SandboxRunResponse
{
    [Id(0)] public string? ValueJson { get; init; }

    [Id(1)] public bool ValueIsRepr { get; init; }

    [Id(2)] public bool ValueTruncated { get; init; }

    [Id(3)] public string Stdout { get; init; } = "";

    [Id(4)] public bool StdoutTruncated { get; init; }

    [Id(5)] public string Stderr { get; init; } = "";

    [Id(6)] public bool StderrTruncated { get; init; }

    [Id(7)] public string? ErrorType { get; init; }

    [Id(8)] public string? ErrorMessage { get; init; }

    [Id(9)] public string? ErrorSummary { get; init; }

    [Id(10)] public string? ErrorTraceback { get; init; }

    [Id(11)] public int Limit { get; init; }

    [Id(12)] public bool SandboxLost { get; init; }

    [Id(13)] public Dictionary<string, byte[]>? Files { get; init; }

    [Id(14)] public Dictionary<string, string>? FileErrors { get; init; }

    [Id(15)] public long ElapsedTicks { get; init; }

    [Id(16)] public long SandboxWaitTicks { get; init; }

    [Id(17)] public Guid Generation { get; init; }

    [Id(18)] public string Silo { get; init; } = "";
}

internal static class Wire
{
    public static SandboxRunRequest ToRequest(string code, RunInputs? inputs, Guid? expectedGeneration)
    {
        ArgumentNullException.ThrowIfNull(code);
        string? globals = null;
        if (inputs?.Globals is { Count: > 0 } values)
        {
            // The library's own conversion: a refused value fails here, in the caller, as it would locally; the size
            // limit is checked again on the silo.
            globals = GlobalsJson.Serialize(values, long.MaxValue, nameof(inputs), out _);
        }

        return new SandboxRunRequest
        {
            Code = code,
            GlobalsJson = globals,
            Files = inputs?.Files?.ToDictionary(f => f.Key, f => f.Value.ToArray(), StringComparer.Ordinal),
            ReadFiles = inputs?.ReadFiles?.ToArray(),
            Timeout = inputs?.Timeout,
            ExpectedGeneration = expectedGeneration,
        };
    }

    public static RunInputs? ToInputs(SandboxRunRequest request)
    {
        if (request.GlobalsJson is null && request.Files is null && request.ReadFiles is null && request.Timeout is null)
        {
            return null;
        }

        Dictionary<string, object?>? globals = null;
        if (request.GlobalsJson is { } json)
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = GlobalsJson.MaxDepth + 2 });
            globals = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                globals[property.Name] = property.Value.Clone();
            }
        }

        return new RunInputs
        {
            Globals = globals,
            Files = request.Files?.ToDictionary(f => f.Key, f => (ReadOnlyMemory<byte>)f.Value, StringComparer.Ordinal),
            ReadFiles = request.ReadFiles,
            Timeout = request.Timeout,
        };
    }

    public static SandboxRunResponse ToResponse(SandboxResult result, Guid generation, string silo) => new()
    {
        ValueJson = result.Value is { } value ? value.GetRawText() : null,
        ValueIsRepr = result.ValueIsRepr,
        ValueTruncated = result.ValueTruncated,
        Stdout = result.Stdout,
        StdoutTruncated = result.StdoutTruncated,
        Stderr = result.Stderr,
        StderrTruncated = result.StderrTruncated,
        ErrorType = result.Error?.TypeName,
        ErrorMessage = result.Error?.Message,
        ErrorSummary = result.Error?.Summary,
        ErrorTraceback = result.Error?.Traceback,
        Limit = (int)result.Limit,
        SandboxLost = result.SandboxLost,
        Files = result.Files.Count == 0 ? null : result.Files.ToDictionary(f => f.Key, f => f.Value.ToArray(), StringComparer.Ordinal),
        FileErrors = result.FileErrors.Count == 0 ? null : new Dictionary<string, string>(result.FileErrors, StringComparer.Ordinal),
        ElapsedTicks = result.Elapsed.Ticks,
        SandboxWaitTicks = result.SandboxWait.Ticks,
        Generation = generation,
        Silo = silo,
    };

    public static SandboxResult ToResult(SandboxRunResponse response)
    {
        JsonElement? value = null;
        if (response.ValueJson is { } json)
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 1024 });
            value = document.RootElement.Clone();
        }

        return new SandboxResult
        {
            Value = value,
            ValueIsRepr = response.ValueIsRepr,
            ValueTruncated = response.ValueTruncated,
            Stdout = response.Stdout,
            StdoutTruncated = response.StdoutTruncated,
            Stderr = response.Stderr,
            StderrTruncated = response.StderrTruncated,
            Error = response.ErrorType is { } type
                ? new PythonError(type, response.ErrorMessage ?? "", response.ErrorSummary ?? "", response.ErrorTraceback ?? "")
                : null,
            Limit = (SandboxLimit)response.Limit,
            SandboxLost = response.SandboxLost,
            Files = response.Files is { } files
                ? new ReadOnlyDictionary<string, ReadOnlyMemory<byte>>(files.ToDictionary(f => f.Key, f => (ReadOnlyMemory<byte>)f.Value, StringComparer.Ordinal))
                : ReadOnlyDictionary<string, ReadOnlyMemory<byte>>.Empty,
            FileErrors = response.FileErrors is { } errors
                ? new ReadOnlyDictionary<string, string>(errors)
                : ReadOnlyDictionary<string, string>.Empty,
            Elapsed = TimeSpan.FromTicks(response.ElapsedTicks),
            SandboxWait = TimeSpan.FromTicks(response.SandboxWaitTicks),
        };
    }

    /// <summary>What a run's request carries across the network, in bytes (UTF-8 text and file contents; the framing is
    /// left to <see cref="MessageHeadroomBytes"/>).</summary>
    public static long RequestBytes(SandboxRunRequest request) =>
        Utf8(request.Code) + Utf8(request.GlobalsJson)
        + (request.Files?.Sum(f => Utf8(f.Key) + (long)f.Value.Length) ?? 0)
        + (request.ReadFiles?.Sum(Utf8) ?? 0);

    /// <summary>What a message holds beyond the run's data: ids, names, numbers, serializer framing.</summary>
    public const long MessageHeadroomBytes = 1024 * 1024;

    /// <summary>Makes a response fit in <paramref name="maxBytes"/>: files that would pass it are not returned but named
    /// in <see cref="SandboxRunResponse.FileErrors"/> (in path order, so the same run keeps the same files), and output
    /// beyond it is cut and marked truncated. Without this, Orleans would close the connection on an oversized message
    /// and the caller would wait for its call timeout.</summary>
    public static SandboxRunResponse Fit(SandboxRunResponse response, long maxBytes)
    {
        var size = TextBytes(response);
        if (size > maxBytes)
        {
            // Only a sandbox whose MaxOutputBytes is near the message size gets here: drop the value, then cut output.
            response = response with { ValueJson = null, ValueTruncated = response.ValueJson is not null || response.ValueTruncated };
            var room = (int)Math.Max(0, Math.Min(int.MaxValue, maxBytes / 4));
            response = response with
            {
                Stdout = Cut(response.Stdout, room, out var cutOut),
                StdoutTruncated = response.StdoutTruncated || cutOut,
                Stderr = Cut(response.Stderr, room, out var cutErr),
                StderrTruncated = response.StderrTruncated || cutErr,
                ErrorTraceback = Cut(response.ErrorTraceback ?? "", room, out _),
            };
            size = TextBytes(response);
        }

        if (response.Files is not { Count: > 0 } files || size + files.Sum(f => Utf8(f.Key) + (long)f.Value.Length) <= maxBytes)
        {
            return response;
        }

        var kept = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var errors = response.FileErrors is { } known ? new Dictionary<string, string>(known, StringComparer.Ordinal) : new(StringComparer.Ordinal);
        foreach (var (path, data) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var cost = Utf8(path) + (long)data.Length;
            if (size + cost <= maxBytes)
            {
                kept[path] = data;
                size += cost;
            }
            else
            {
                errors[path] = $"not returned: the run's results would pass what one cluster message carries ({maxBytes} bytes, PythonSandboxSiloOptions.MaxMessageBytes); read fewer or smaller files per run";
            }
        }

        return response with { Files = kept.Count == 0 ? null : kept, FileErrors = errors };
    }

    // Everything in a response but its files.
    private static long TextBytes(SandboxRunResponse response) =>
        Utf8(response.ValueJson) + Utf8(response.Stdout) + Utf8(response.Stderr) + Utf8(response.ErrorMessage)
        + Utf8(response.ErrorSummary) + Utf8(response.ErrorTraceback) + (response.FileErrors?.Sum(e => Utf8(e.Key) + Utf8(e.Value)) ?? 0);

    private static long Utf8(string? text) => text is null ? 0 : Encoding.UTF8.GetByteCount(text);

    private static string Cut(string text, int maxChars, out bool cut)
    {
        cut = text.Length > maxChars / 3; // three UTF-8 bytes a char at most (a surrogate pair is two chars for four bytes)
        if (!cut)
        {
            return text;
        }

        var end = maxChars / 3;
        if (end > 0 && char.IsHighSurrogate(text[end - 1]))
        {
            end--;
        }

        return text[..end];
    }

    /// <summary>What a session answers when its state is gone: the code was not run; the next call runs in the new
    /// sandbox.</summary>
    public static SandboxRunResponse Lost(string reason, Guid generation, string silo) => new()
    {
        ErrorType = "SandboxLost",
        ErrorMessage = reason,
        ErrorSummary = "SandboxLost: " + reason,
        ErrorTraceback = "SandboxLost: " + reason + "\n",
        SandboxLost = true,
        Generation = generation,
        Silo = silo,
    };
}
