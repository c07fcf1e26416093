using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Writes <see cref="RunInputs.Globals"/> as one JSON object, which the runner reads with <c>json.loads</c>.
/// Only values that JSON holds exactly are accepted, and each keeps its Python type: integers of any size
/// stay <c>int</c> (every digit), <c>double</c>/<c>float</c>/<c>decimal</c> always become <c>float</c>
/// (never an <c>int</c> because the value happens to be whole). Anything else is refused, naming the global.
/// </summary>
internal static class GlobalsJson
{
    /// <summary>Deepest nesting accepted (and the guard against a list that contains itself).</summary>
    public const int MaxDepth = 64;

    /// <summary>CPython refuses to read longer integers (<c>sys.get_int_max_str_digits()</c>).</summary>
    private const int MaxIntegerDigits = 4300;

    private static readonly JsonWriterOptions s_options = new()
    {
        // Read by json.loads, never shown in a browser: keep non-ASCII text as it is (fewer bytes).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        MaxDepth = MaxDepth + 2,
    };

    private static readonly HashSet<string> s_keywords = new(StringComparer.Ordinal)
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
        "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    };

    /// <summary>The globals as JSON text, or null when they take more than <paramref name="maxBytes"/> bytes (UTF-8).</summary>
    /// <exception cref="ArgumentException">A name is not a plain identifier, or a value cannot be passed.</exception>
    public static string? Serialize(IReadOnlyDictionary<string, object?> globals, long maxBytes, string paramName, out long bytes)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, s_options))
        {
            var context = new Context(writer, maxBytes, paramName);
            writer.WriteStartObject();
            foreach (var (name, value) in globals)
            {
                CheckName(name, paramName);
                writer.WritePropertyName(name);
                context.Name = name;
                if (!context.Write(value, 1))
                {
                    bytes = context.Size;
                    return null;
                }
            }

            writer.WriteEndObject();
        }

        bytes = buffer.WrittenCount;
        return bytes > maxBytes ? null : System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Plain ASCII identifiers, not a keyword, not starting with <c>__</c> (no <c>__builtins__</c>).</summary>
    internal static void CheckName(string? name, string paramName)
    {
        var valid = !string.IsNullOrEmpty(name)
            && (char.IsAsciiLetter(name[0]) || name[0] == '_')
            && name.All(static c => char.IsAsciiLetterOrDigit(c) || c == '_')
            && !name.StartsWith("__", StringComparison.Ordinal)
            && !s_keywords.Contains(name);
        if (!valid)
        {
            throw new ArgumentException(
                $"The global name '{name}' is not allowed: use an ASCII Python identifier that is not a keyword and does not start with '__'.",
                paramName);
        }
    }

    private sealed class Context(Utf8JsonWriter writer, long maxBytes, string paramName)
    {
        public string Name { get; set; } = "";

        public long Size => writer.BytesCommitted + writer.BytesPending;

        // Returns false as soon as the text passes the size cap.
        public bool Write(object? value, int depth)
        {
            if (depth > MaxDepth)
            {
                throw Refuse($"nests deeper than {MaxDepth} levels (or contains itself)");
            }

            switch (value)
            {
                case null:
                    writer.WriteNullValue();
                    break;
                case bool b:
                    writer.WriteBooleanValue(b);
                    break;
                case string s:
                    WriteString(s);
                    break;
                case char c:
                    WriteString(c.ToString());
                    break;
                case int or long or short or sbyte or byte or ushort or uint or ulong or Int128 or UInt128 or BigInteger:
                    WriteInteger(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                    break;
                case double d:
                    WriteFloat(d, d.ToString("R", CultureInfo.InvariantCulture));
                    break;
                case float f:
                    WriteFloat(f, f.ToString("R", CultureInfo.InvariantCulture));
                    break;
                case decimal m:
                    WriteFloat(0, m.ToString(CultureInfo.InvariantCulture));
                    break;
                case JsonElement element:
                    return WriteElement(element, depth);
                case JsonDocument document:
                    return WriteElement(document.RootElement, depth);
                case JsonNode node:
                    return WriteNode(node, depth);
                case byte[] or ReadOnlyMemory<byte> or Memory<byte> or ArraySegment<byte>:
                    throw Refuse("is bytes, which JSON cannot hold: pass bytes as a file (RunInputs.Files)");
                case IDictionary dictionary:
                    return WriteDictionary(dictionary, depth);
                case IEnumerable<KeyValuePair<string, object?>> pairs:
                    return WriteObject(pairs, depth);
                case IEnumerable items:
                    return WriteArray(items, depth);
                default:
                    throw Refuse($"holds a {value.GetType().Name}, which cannot be passed to Python: use null, bool, numbers, string, lists, dictionaries with string keys, JsonElement or JsonNode");
            }

            return Size <= maxBytes;
        }

        private void WriteString(string s)
        {
            if (!SandboxPath.IsValidUtf16(s))
            {
                throw Refuse("holds a string that is not valid UTF-16 (a lone surrogate)");
            }

            writer.WriteStringValue(s);
        }

        private void WriteInteger(string digits)
        {
            if (digits.Length > MaxIntegerDigits + 1)
            {
                throw Refuse($"holds an integer of more than {MaxIntegerDigits} digits, which Python refuses to read");
            }

            writer.WriteRawValue(digits, skipInputValidation: true);
        }

        private void WriteFloat(double value, string text)
        {
            if (!double.IsFinite(value))
            {
                throw Refuse("holds NaN or an infinity, which JSON cannot hold");
            }

            // "1" would become an int in Python; "1.0" stays a float.
            writer.WriteRawValue(text.AsSpan().IndexOfAny(".eE") >= 0 ? text : text + ".0", skipInputValidation: true);
        }

        private bool WriteElement(JsonElement element, int depth)
        {
            if (depth > MaxDepth)
            {
                throw Refuse($"nests deeper than {MaxDepth} levels");
            }

            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    writer.WriteStartObject();
                    foreach (var property in element.EnumerateObject())
                    {
                        WriteKey(property.Name);
                        if (!WriteElement(property.Value, depth + 1))
                        {
                            return false;
                        }
                    }

                    writer.WriteEndObject();
                    break;
                case JsonValueKind.Array:
                    writer.WriteStartArray();
                    foreach (var item in element.EnumerateArray())
                    {
                        if (!WriteElement(item, depth + 1))
                        {
                            return false;
                        }
                    }

                    writer.WriteEndArray();
                    break;
                case JsonValueKind.Number:
                    var text = element.GetRawText();
                    if (text.AsSpan().IndexOfAny(".eE") < 0)
                    {
                        WriteInteger(text);
                    }
                    else
                    {
                        writer.WriteRawValue(text, skipInputValidation: true);
                    }

                    break;
                case JsonValueKind.Undefined:
                    throw Refuse("is an undefined JsonElement");
                default:
                    element.WriteTo(writer); // string, true, false, null
                    break;
            }

            return Size <= maxBytes;
        }

        private bool WriteNode(JsonNode node, int depth) => node switch
        {
            JsonObject obj => WriteObject(obj, depth),
            JsonArray array => WriteArray(array, depth),
            JsonValue jsonValue when jsonValue.TryGetValue<JsonElement>(out var element) => WriteElement(element, depth),
            JsonValue jsonValue when jsonValue.TryGetValue<object>(out var inner) && inner is not JsonNode => Write(inner, depth),
            _ => throw Refuse("holds a JsonNode that cannot be read"),
        };

        private bool WriteDictionary(IDictionary dictionary, int depth)
        {
            writer.WriteStartObject();
            foreach (DictionaryEntry entry in dictionary)
            {
                if (entry.Key is not string key)
                {
                    throw Refuse($"holds a dictionary with a {entry.Key.GetType().Name} key: JSON keys are strings");
                }

                WriteKey(key);
                if (!Write(entry.Value, depth + 1))
                {
                    return false;
                }
            }

            writer.WriteEndObject();
            return Size <= maxBytes;
        }

        // Dictionaries of any value type, and JsonObject (pairs of string and JsonNode).
        private bool WriteObject<TValue>(IEnumerable<KeyValuePair<string, TValue>> pairs, int depth)
        {
            writer.WriteStartObject();
            foreach (var (key, item) in pairs)
            {
                WriteKey(key);
                if (!Write(item, depth + 1))
                {
                    return false;
                }
            }

            writer.WriteEndObject();
            return Size <= maxBytes;
        }

        private bool WriteArray(IEnumerable items, int depth)
        {
            writer.WriteStartArray();
            foreach (var item in items)
            {
                if (!Write(item, depth + 1))
                {
                    return false;
                }
            }

            writer.WriteEndArray();
            return Size <= maxBytes;
        }

        private void WriteKey(string key)
        {
            if (!SandboxPath.IsValidUtf16(key))
            {
                throw Refuse("holds a dictionary key that is not valid UTF-16 (a lone surrogate)");
            }

            writer.WritePropertyName(key);
        }

        private ArgumentException Refuse(string what) => new($"The global '{Name}' {what}.", paramName);
    }
}
