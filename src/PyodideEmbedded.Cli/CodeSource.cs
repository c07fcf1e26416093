namespace PyodideEmbedded.Cli;

/// <summary>
/// What <c>run</c>'s argument names: code, a file of code, or <c>-</c> for stdin. Python code may contain
/// <c>/</c> (<c>4/2</c>, <c>print(1/3)</c>) and even end in <c>.py</c> (<c>x.py</c> is an attribute), so a
/// word counts as a file only when it could hardly be anything else; then a missing file is an error,
/// not code that fails with a <c>NameError</c> or <c>SyntaxError</c>.
/// </summary>
internal static class CodeSource
{
    /// <summary>The argument's help text; it states the rule below.</summary>
    public const string Description =
        "Python code, a .py file, or - to read stdin. A word with no spaces, brackets, quotes or operators "
        + "(only letters, digits and / \\ . - _ ~ :) that ends in .py or starts with ./ ../ / or ~/ is a file, "
        + "which must exist; so are other existing files ending in .py. Anything else is code: '4/2', 'print(1/3)'.";

    /// <summary>Whether a word is taken as a file path rather than code (whether or not the file exists).</summary>
    public static bool LooksLikePath(string word) =>
        word.Length > 0
        && word.All(static c => char.IsLetterOrDigit(c) || c is '/' or '\\' or '.' or '-' or '_' or '~' or ':')
        && (word.EndsWith(".py", StringComparison.Ordinal)
            || word.StartsWith("./", StringComparison.Ordinal) || word.StartsWith("../", StringComparison.Ordinal)
            || word.StartsWith('/') || word.StartsWith("~/", StringComparison.Ordinal));

    /// <summary>The code to run, or a usage problem naming the path.</summary>
    public static async Task<(string? Code, string? Problem)> ReadAsync(string source, TextReader stdin, CancellationToken cancellationToken)
    {
        if (source == "-")
        {
            return (await stdin.ReadToEndAsync(cancellationToken).ConfigureAwait(false), null);
        }

        var isPath = LooksLikePath(source);
        if (!isPath && !(source.EndsWith(".py", StringComparison.Ordinal) && File.Exists(source)))
        {
            return (source, null);
        }

        if (Directory.Exists(source))
        {
            return (null, $"'{source}' is a folder, not a file of Python code.");
        }

        if (!File.Exists(source))
        {
            var where = Path.IsPathRooted(source) ? "" : $" (in {Environment.CurrentDirectory})";
            return (null, $"No such file: '{source}'{where}.");
        }

        try
        {
            return (await File.ReadAllTextAsync(source, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"Cannot read '{source}': {e.Message}");
        }
    }
}
