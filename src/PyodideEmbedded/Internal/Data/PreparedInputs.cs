namespace PyodideEmbedded.Internal;

/// <summary><see cref="RunInputs"/> checked and encoded on the caller's thread, before the run is queued.</summary>
internal sealed class PreparedInputs
{
    private PreparedInputs(string? globalsJson, long globalsBytes, List<KeyValuePair<string, ReadOnlyMemory<byte>>> files, long fileBytes, List<string> readFiles)
    {
        GlobalsJson = globalsJson;
        GlobalsBytes = globalsBytes;
        Files = files;
        FileBytes = fileBytes;
        ReadFiles = readFiles;
    }

    /// <summary>The globals as JSON text; null when there are none or when they passed <c>maxGlobalsBytes</c>.</summary>
    public string? GlobalsJson { get; }

    /// <summary>Size of the globals' JSON text in bytes (at least the cap when it was passed).</summary>
    public long GlobalsBytes { get; }

    public IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> Files { get; }

    public long FileBytes { get; }

    public IReadOnlyList<string> ReadFiles { get; }

    /// <exception cref="ArgumentException">A name, value or path is not allowed.</exception>
    public static PreparedInputs Create(RunInputs inputs, long maxGlobalsBytes)
    {
        string? json = null;
        long globalsBytes = 0;
        if (inputs.Globals is { Count: > 0 } globals)
        {
            json = Internal.GlobalsJson.Serialize(globals, maxGlobalsBytes, nameof(inputs), out globalsBytes);
        }

        var files = new List<KeyValuePair<string, ReadOnlyMemory<byte>>>();
        long fileBytes = 0;
        foreach (var file in inputs.Files ?? new Dictionary<string, ReadOnlyMemory<byte>>())
        {
            SandboxPath.Check(file.Key, nameof(inputs));
            files.Add(file);
            fileBytes += file.Value.Length;
        }

        var reads = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in inputs.ReadFiles ?? [])
        {
            SandboxPath.Check(path, nameof(inputs));
            if (seen.Add(path))
            {
                reads.Add(path);
            }
        }

        return new PreparedInputs(json, globalsBytes, files, fileBytes, reads);
    }
}
