using System.Collections.ObjectModel;
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
