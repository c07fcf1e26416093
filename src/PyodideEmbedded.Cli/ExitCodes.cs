namespace PyodideEmbedded.Cli;

/// <summary>Process exit codes of <c>pyodide-sandbox</c>, following shell conventions where one exists.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int PythonError = 1;
    public const int Usage = 2;
    public const int AssetError = 3;
    public const int StartError = 4;
    public const int Timeout = 124;   // as timeout(1)
    public const int MemoryLimit = 137; // as a process killed for memory

    public static int For(SandboxResult result) =>
        result.Error is null ? Success
        : result.TimedOut ? Timeout
        : result.Error.TypeName == "MemoryError" ? MemoryLimit
        : PythonError;
}
