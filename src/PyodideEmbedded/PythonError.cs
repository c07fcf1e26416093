namespace PyodideEmbedded;

/// <summary>A Python exception that ended a run; when a limit ended it (<see cref="SandboxResult.Limit"/>), the
/// exception Python would raise for it.</summary>
/// <param name="TypeName">The exception's type, such as <c>ZeroDivisionError</c>, <c>MemoryError</c> or <c>TimeoutError</c>.</param>
/// <param name="Message">The exception's message (<c>str(e)</c>), such as <c>division by zero</c>.</param>
/// <param name="Summary">The last line Python prints for it, such as <c>ZeroDivisionError: division by zero</c>.</param>
/// <param name="Traceback">The full traceback of the user's code, without the sandbox's own frames.</param>
public sealed record PythonError(string TypeName, string Message, string Summary, string Traceback)
{
    /// <summary>An error the host reports: <paramref name="typeName"/> must be a real Python exception type.</summary>
    internal static PythonError Of(string typeName, string message) =>
        new(typeName, message, $"{typeName}: {message}", $"{typeName}: {message}\n");
}
