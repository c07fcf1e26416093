namespace PyodideEmbedded;

/// <summary>A Pyodide asset is missing, altered, or not listed in the manifest; no sandbox is started from it.</summary>
public sealed class SandboxAssetException : SandboxException
{
    internal SandboxAssetException(string filePath, string message)
        : base(message) => FilePath = filePath;

    /// <summary>The file (or folder) at fault.</summary>
    public string FilePath { get; }
}
