using System.Text;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Which paths of the sandbox's in-memory file system the host may write and read (<see cref="RunInputs"/>).
/// A path must be absolute and already normal (no <c>.</c>, <c>..</c>, empty or trailing components: they
/// are refused, not resolved), and lie strictly under one of <see cref="Roots"/>. Everything else, in
/// particular Pyodide's own <c>/lib</c> (the standard library and site-packages), <c>/dev</c> and
/// <c>/proc</c>, is refused, so host input can never replace a module the sandbox imports.
/// </summary>
internal static class SandboxPath
{
    /// <summary>The folders under which files may be written and read.</summary>
    public static readonly string[] Roots = ["/data", "/out", "/tmp", "/home/pyodide"];

    private const int MaxPathBytes = 4096;
    private const int MaxNameBytes = 255;

    /// <summary>Throws <see cref="ArgumentException"/> (naming the path) unless <paramref name="path"/> may be used.</summary>
    public static void Check(string? path, string paramName)
    {
        if (Problem(path) is { } problem)
        {
            throw new ArgumentException($"The sandbox path '{Show(path)}' {problem}.", paramName);
        }
    }

    /// <summary>Why a path is refused, or null when it is allowed.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "is empty";
        }

        if (path[0] != '/')
        {
            return "is not absolute (it must start with one of " + string.Join(", ", Roots) + ")";
        }

        if (!IsValidUtf16(path) || Encoding.UTF8.GetByteCount(path) > MaxPathBytes)
        {
            return "is not a valid path";
        }

        foreach (var name in path[1..].Split('/'))
        {
            if (name.Length == 0 || name is "." or "..")
            {
                return "is not normalized (no empty, '.' or '..' components, no trailing '/')";
            }

            if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes || name.Any(static c => char.IsControl(c) || c == '\\'))
            {
                return "has a component that is not a valid file name";
            }
        }

        foreach (var root in Roots)
        {
            if (path == root)
            {
                return "is one of the host's folders itself: name a file in it";
            }

            if (path.Length > root.Length + 1 && path.StartsWith(root, StringComparison.Ordinal) && path[root.Length] == '/')
            {
                return null;
            }
        }

        return "is outside the folders the host may use (" + string.Join(", ", Roots) + ")";
    }

    /// <summary>Whether every surrogate is part of a pair (writers would otherwise replace it silently).</summary>
    internal static bool IsValidUtf16(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static string Show(string? path) => ErrorText.Printable(path, 200);
}
