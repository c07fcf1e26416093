namespace PyodideEmbedded;

/// <summary>Pyodide did not start in a new sandbox (for example a limit set below what start-up needs).</summary>
public sealed class SandboxStartException : SandboxException
{
    internal SandboxStartException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
