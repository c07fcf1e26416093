using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace PyodideEmbedded.Cli;

/// <summary>
/// What is wrong with a command line, said in the user's words: an unknown option is named (with the
/// closest known ones), a misplaced option is shown where it goes, and System.CommandLine's own errors
/// are rephrased where they would mislead. Checked before any action runs, so before any sandbox starts.
/// </summary>
/// <remarks>
/// System.CommandLine 2.0.0 has typo corrections (<see cref="ParseErrorAction.ShowTypoCorrections"/>), but they
/// only look at unmatched tokens, so they never see an unknown option that the <c>run</c> command's code argument
/// took as its value (<c>run --timeout 5 1</c> runs "--timeout" as code), they write to stdout, and exit 1.
/// Hence this small Levenshtein-based suggester over the command's own option names.
/// </remarks>
internal static partial class UsageErrors
{
    public const string ProgramName = "pyodide-sandbox";

    /// <summary>The usage problem of a parse, or null when it can be invoked as it is (including <c>--help</c>).</summary>
    public static string? Find(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.Action is not null && parse.Action is not ParseErrorAction && !ReferenceEquals(parse.Action, command.Action))
        {
            return null; // --help, --version or a directive: they ignore the rest
        }

        // An option-looking word the parser did not know: before "--", whatever took it as a value.
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.DoubleDash)
            {
                break;
            }

            if (token.Type == TokenType.Argument && OptionName(token.Value) is { } name)
            {
                return UnknownOption(parse, command, name);
            }
        }

        if (command is RootCommand)
        {
            return parse.UnmatchedTokens.Count > 0
                ? UnknownCommand(command, parse.UnmatchedTokens[0])
                : $"No command given: use '{ProgramName} run CODE', '{ProgramName} serve' or '{ProgramName} mcp'.";
        }

        if (parse.UnmatchedTokens.Count > 0)
        {
            var extra = parse.UnmatchedTokens[0];
            return command.Arguments.Count > 0
                ? $"Unexpected argument '{extra}': '{command.Name}' takes the code as one argument; quote it (for example {ProgramName} run 'x = 1; x + 1')."
                : $"Unexpected argument '{extra}': '{command.Name}' takes no arguments.";
        }

        foreach (var error in parse.Errors)
        {
            switch (error.SymbolResult)
            {
                case ArgumentResult { Argument: var argument } result when command.Arguments.Contains(argument) && result.Tokens.Count == 0:
                    return $"'{command.Name}' needs its {argument.Name.ToUpperInvariant()} argument: {FirstSentence(argument.Description)}";
                case OptionResult { Option: var option } result when IsWholeNumber(option.ValueType) && result.Tokens.Count > 0:
                    return $"{option.Name} expects a whole number, not '{result.Tokens[^1].Value}'.";
                default:
                    break;
            }
        }

        return parse.Errors.Count > 0 ? parse.Errors[0].Message
            : parse.Action is ParseErrorAction ? "The command line is not valid."
            : null;
    }

    /// <summary>The short pointer printed after a usage problem found while parsing.</summary>
    public static string Hint(ParseResult parse) =>
        parse.CommandResult.Command is RootCommand
            ? $"Run '{ProgramName} --help' for usage."
            : $"Run '{ProgramName} {parse.CommandResult.Command.Name} --help' for usage.";

    /// <summary>The known option names closest to <paramref name="name"/>: those it begins, else those within a few edits.</summary>
    public static IReadOnlyList<string> Suggest(string name, IEnumerable<string> knownNames)
    {
        var bare = name.TrimStart('-').ToLowerInvariant();
        var candidates = knownNames.Where(static n => n.StartsWith("--", StringComparison.Ordinal)).Distinct().ToList();
        if (bare.Length >= 2)
        {
            var extended = candidates.Where(c => c[2..].StartsWith(bare, StringComparison.Ordinal)).ToList();
            if (extended.Count > 0)
            {
                return extended;
            }
        }

        var maxEdits = Math.Clamp(bare.Length / 3, 1, 3);
        var near = candidates.Select(c => (Name: c, Edits: Distance(bare, c[2..]))).Where(c => c.Edits <= maxEdits).ToList();
        return near.Count == 0 ? [] : near.Where(c => c.Edits == near.Min(n => n.Edits)).Select(static c => c.Name).ToList();
    }

    /// <summary>Levenshtein distance: the fewest single-character insertions, deletions and substitutions from one to the other.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>The message of an <see cref="ArgumentException"/> without .NET's "(Parameter 'x')" and "Actual value was" parts.</summary>
    public static string Strip(ArgumentException e)
    {
        var message = e.Message;
        var at = e.ParamName is null ? -1 : message.IndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return at >= 0 ? message[..at] : message;
    }

    /// <summary>Lists names the way a sentence would: 'a', 'a' or 'b', 'a', 'b' or 'c'.</summary>
    public static string Either(IReadOnlyList<string> names) =>
        names.Count == 1 ? $"'{names[0]}'" : string.Join(", ", names.Take(names.Count - 1).Select(static n => $"'{n}'")) + $" or '{names[^1]}'";

    private static string UnknownOption(ParseResult parse, Command command, string name)
    {
        if (Names(command).Contains(name))
        {
            // Known here, yet not parsed as an option: it came before the command's name.
            return $"Option '{name}' goes after the command: {ProgramName} {command.Name} {name} ...";
        }

        var root = parse.RootCommandResult.Command;
        var owners = root.Subcommands.Where(c => c != command && c.Options.Any(o => o.Name == name || o.Aliases.Contains(name))).Select(static c => c.Name).ToList();
        if (owners.Count > 0)
        {
            return command is RootCommand
                ? $"Option '{name}' goes after a command: {ProgramName} {owners[0]} {name} ..."
                : $"Option '{name}' belongs to {Either(owners)}, not to '{command.Name}'.";
        }

        var suggestions = Suggest(name, command is RootCommand ? Names(command).Concat(root.Subcommands.SelectMany(Names)) : Names(command));
        var message = $"Unknown option '{name}'." + (suggestions.Count > 0 ? $" Did you mean {Either(suggestions)}?" : "");
        if (!name.StartsWith("--", StringComparison.Ordinal) && command.Arguments.Count > 0)
        {
            message += $" (Code that starts with '-' goes after '--': {ProgramName} {command.Name} -- '{name}'.)";
        }

        return message;
    }

    private static string UnknownCommand(Command root, string word)
    {
        var names = root.Subcommands.Select(static c => c.Name).ToList();
        var near = names.Where(n => Distance(word.ToLowerInvariant(), n) <= 2).ToList();
        return $"Unknown command '{word}'; the commands are {Either(names)}." + (near.Count > 0 ? $" Did you mean {Either(near)}?" : "");
    }

    // Every name and alias of the command's options, and of the options its parents pass down (--help).
    private static IEnumerable<string> Names(Command command)
    {
        IEnumerable<Option> options = command.Options;
        foreach (var parent in command.Parents.OfType<Command>())
        {
            options = options.Concat(parent.Options.Where(static o => o.Recursive || o is HelpOption));
        }

        return options.SelectMany(static o => o.Aliases.Prepend(o.Name));
    }

    // "--name" or "-n", optionally "=value"; null for anything else (code such as "-1" or "-x + 1").
    private static string? OptionName(string word) => OptionPattern().Match(word) is { Success: true } match ? match.Groups["name"].Value : null;

    private static string FirstSentence(string? text) => text is null ? "" : text.IndexOf(". ", StringComparison.Ordinal) is var end and >= 0 ? text[..(end + 1)] : text;

    private static bool IsWholeNumber(Type type) => type == typeof(int) || type == typeof(long);

    [GeneratedRegex("^(?<name>--?[A-Za-z][A-Za-z0-9_-]*)(=.*)?$", RegexOptions.Singleline)]
    private static partial Regex OptionPattern();
}
