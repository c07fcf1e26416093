namespace PyodideEmbedded;

/// <summary>Thrown by <see cref="SandboxResult.ThrowIfError"/> for a run that ended with a Python error.</summary>
public sealed class PythonException : SandboxException
{
    internal PythonException(PythonError error)
        : base(error.Summary) => Error = error;

    /// <summary>The Python error.</summary>
    public PythonError Error { get; }
}
