namespace PyodideEmbedded;

/// <summary>A Python exception that ended a run, or a limit that stopped it (reported the same way).</summary>
/// <param name="TypeName">The exception's type, such as <c>ZeroDivisionError</c>, <c>MemoryError</c> or <c>TimeoutError</c>.</param>
/// <param name="Message">The exception's message (<c>str(e)</c>), such as <c>division by zero</c>.</param>
/// <param name="Summary">The last line Python prints for it, such as <c>ZeroDivisionError: division by zero</c>.</param>
/// <param name="Traceback">The full traceback of the user's code, without the sandbox's own frames.</param>
public sealed record PythonError(string TypeName, string Message, string Summary, string Traceback)
{
    internal static PythonError FromLimit(string typeName, string message) =>
        new(typeName, message, $"{typeName}: {message}", $"{typeName}: {message}\n");
}
