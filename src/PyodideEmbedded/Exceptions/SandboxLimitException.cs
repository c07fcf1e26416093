namespace PyodideEmbedded;

/// <summary>Thrown by <see cref="SandboxResult.ThrowIfError"/> for a run that a limit of the sandbox ended.</summary>
/// <remarks>A Python exception of the code's own is a <see cref="PythonException"/> instead; the caller's
/// <see cref="CancellationToken"/> is always an <see cref="OperationCanceledException"/>.</remarks>
public sealed class SandboxLimitException : SandboxException
{
    internal SandboxLimitException(SandboxResult result)
        : base($"The run passed a limit ({result.Limit}): {result.Error?.Summary}")
    {
        Result = result;
    }

    /// <summary>The limit that ended the run.</summary>
    public SandboxLimit Limit => Result.Limit;

    /// <summary>The run's result: its output until the limit, and the error that reports it.</summary>
    public SandboxResult Result { get; }
}
