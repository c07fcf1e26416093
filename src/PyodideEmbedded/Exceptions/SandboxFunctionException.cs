namespace PyodideEmbedded;

/// <summary>
/// Thrown by a function granted through <see cref="SandboxFunctions"/> when its message is meant for the sandboxed code:
/// Python gets <c>host.HostFunctionError</c> with exactly this message.
/// </summary>
/// <remarks>Any other exception reaches Python only as a generic message naming the function, so that no .NET type
/// name, path or stack trace enters the sandbox. Do not put secrets in this message.</remarks>
public sealed class SandboxFunctionException : Exception
{
    /// <summary>Creates the exception with a message for the sandboxed code.</summary>
    /// <param name="message">What Python sees (cut to the function result cap).</param>
    public SandboxFunctionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message for the sandboxed code and its cause (which stays on the host).</summary>
    /// <param name="message">What Python sees (cut to the function result cap).</param>
    /// <param name="innerException">The cause; never shown to Python.</param>
    public SandboxFunctionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
