using System.Text.Json;

namespace PyodideEmbedded.Internal;

/// <summary>The functions one sandbox was granted, fixed when it starts, and the description Python builds <c>host</c> from.</summary>
internal sealed class FunctionTable
{
    private readonly Dictionary<string, HostFunction> _byName;

    public FunctionTable(HostFunction[] functions, int maxCallsPerRun)
    {
        _byName = functions.ToDictionary(static f => f.Name, StringComparer.Ordinal);
        MaxCallsPerRun = maxCallsPerRun;
        Spec = WriteSpec(functions);
    }

    public int MaxCallsPerRun { get; }

    /// <summary>JSON text: <c>[{name, doc, returns, parameters: [{name, type, default?}]}]</c>.</summary>
    public string Spec { get; }

    public HostFunction? Find(string name) => _byName.GetValueOrDefault(name);

    private static string WriteSpec(HostFunction[] functions)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var function in functions)
            {
                function.WriteSpec(json);
            }

            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
