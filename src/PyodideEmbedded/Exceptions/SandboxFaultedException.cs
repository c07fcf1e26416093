namespace PyodideEmbedded;

/// <summary>The sandbox was discarded after a hard stop (time or JavaScript heap limit) and can run nothing more.
/// Dispose it and create a new one.</summary>
public sealed class SandboxFaultedException : SandboxException
{
    internal SandboxFaultedException(string reason)
        : base($"The sandbox is faulted and can run nothing more ({reason}); dispose it and create a new one.")
    {
    }
}
