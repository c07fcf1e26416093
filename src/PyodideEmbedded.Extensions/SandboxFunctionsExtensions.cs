using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace PyodideEmbedded;

/// <summary>Grants Microsoft.Extensions.AI tools (<see cref="AIFunction"/>) to sandboxed Python as host functions.</summary>
public static class SandboxFunctionsExtensions
{
    /// <summary>
    /// Grants an <see cref="AIFunction"/> (an agent's other tools) so that model-written Python can call it as
    /// <c>host.&lt;name&gt;(...)</c>, with its JSON schema's parameters and its description.
    /// </summary>
    /// <param name="functions">The functions to add to.</param>
    /// <param name="function">The tool. It gets its arguments as <see cref="JsonElement"/> values, as from a model.</param>
    /// <param name="name">The Python name; default: the tool's name with every character that is not an ASCII letter,
    /// digit or <c>_</c> replaced by <c>_</c>.</param>
    /// <returns><paramref name="functions"/>, to chain calls.</returns>
    /// <remarks>The tool's result crosses as JSON (serialised with the tool's <see cref="AIFunction.JsonSerializerOptions"/>).
    /// Its exceptions reach Python as a generic message unless they are <see cref="SandboxFunctionException"/>.</remarks>
    /// <exception cref="ArgumentException">The name, or a parameter's name, cannot be a Python name, or is already granted.</exception>
    public static SandboxFunctions Add(this SandboxFunctions functions, AIFunction function, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(functions);
        ArgumentNullException.ThrowIfNull(function);
        return functions.AddJson(name ?? PythonName(function.Name), function.Description, function.JsonSchema, async (arguments, cancellationToken) =>
        {
            var values = new AIFunctionArguments();
            foreach (var argument in arguments.EnumerateObject())
            {
                values[argument.Name] = argument.Value;
            }

            var result = await function.InvokeAsync(values, cancellationToken).ConfigureAwait(false);
            return result is JsonElement json ? json : JsonSerializer.SerializeToElement(result, function.JsonSerializerOptions);
        });
    }

    private static string PythonName(string name)
    {
        var text = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            text.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return text.ToString();
    }
}
