namespace PyodideEmbedded;

/// <summary>Base of the exceptions that mean the sandbox could not give you a result.</summary>
/// <remarks>Python exceptions are not thrown: they are <see cref="SandboxResult.Error"/>.</remarks>
public abstract class SandboxException : Exception
{
    private protected SandboxException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
