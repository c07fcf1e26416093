using System.Text.Json;
using System.Text.RegularExpressions;

namespace PyodideEmbedded.Internal;

internal static partial class ErrorText
{
    private const int MaxLength = 2000;

    /// <summary>ClearScript messages can embed a whole minified source line (over a megabyte): keep the start.</summary>
    public static string Shorten(string text) => text.Length <= MaxLength ? text : text[..MaxLength] + "...";

    /// <summary>Untrusted text (a path, a file name) fit for a message: control and surrogate characters as '?', at most <paramref name="maxLength"/> characters.</summary>
    public static string Printable(string? text, int maxLength)
    {
        var clean = new string((text ?? "").Select(static c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c).ToArray());
        return clean.Length <= maxLength ? clean : clean[..maxLength] + "...";
    }

    /// <summary>Decodes a raw JSON string literal after replacing lone-surrogate escapes with U+FFFD.</summary>
    public static string ReplaceLoneSurrogateEscapes(string rawJsonString)
    {
        var cleaned = LoneSurrogate().Replace(rawJsonString, "\\ufffd");
        return JsonSerializer.Deserialize<string>(cleaned) ?? "";
    }

    // A high surrogate escape not followed by a low one, or a low one not preceded by a high one.
    [GeneratedRegex(@"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")]
    private static partial Regex LoneSurrogate();
}
