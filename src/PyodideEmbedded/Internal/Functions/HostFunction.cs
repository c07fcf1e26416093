using System.Collections;
using System.ComponentModel;
using System.Numerics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PyodideEmbedded.Internal;

/// <summary>
/// One granted .NET function, bound once: its Python name and parameters, how each argument is read from JSON and how
/// its result is written back. Everything here treats the arguments as hostile input.
/// </summary>
internal sealed class HostFunction
{
    /// <summary>Deepest JSON nesting read or written (System.Text.Json's own default, stated).</summary>
    public const int MaxDepth = 64;

    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.General)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = MaxDepth,
        Converters = { new BigIntegerConverter() },
    };

    private readonly Delegate? _function;
    // A function described by a JSON schema (an AIFunction): it takes the arguments object as it came.
    private readonly Func<JsonElement, CancellationToken, ValueTask<JsonElement>>? _jsonFunction;
    private readonly Parameter[] _parameters;
    private readonly Type _resultType;
    private readonly ResultKind _resultKind;

    private HostFunction(string name, Delegate? function, Parameter[] parameters, Type resultType, ResultKind resultKind, string? description,
        Func<JsonElement, CancellationToken, ValueTask<JsonElement>>? jsonFunction = null)
    {
        Name = name;
        _function = function;
        _jsonFunction = jsonFunction;
        _parameters = parameters;
        _resultType = resultType;
        _resultKind = resultKind;
        Description = description;
    }

    public string Name { get; }

    public string? Description { get; }

    private enum ResultKind
    {
        Value,
        None,
        Task,
        TaskOfT,
        ValueTask,
        ValueTaskOfT,
    }

    /// <summary>One parameter: its Python name, .NET type, and default (when it has one).</summary>
    private sealed record Parameter(string PythonName, Type Type, bool IsToken, bool HasDefault, object? Default, string? Description, string? SchemaType = null);

    /// <summary>
    /// A function whose parameters a JSON schema describes (<c>{"type": "object", "properties": {...}, "required": [...]}</c>):
    /// Python gets one parameter per property (required ones first; the others default to None), and the function gets
    /// the arguments object with only the properties given.
    /// </summary>
    public static HostFunction CreateJson(string name, string? description, JsonElement parametersSchema, Func<JsonElement, CancellationToken, ValueTask<JsonElement>> function)
    {
        CheckPythonName(name, nameof(name));
        var required = parametersSchema.ValueKind == JsonValueKind.Object && parametersSchema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Where(static e => e.ValueKind == JsonValueKind.String).Select(static e => e.GetString()!).ToHashSet(StringComparer.Ordinal)
            : [];
        var parameters = new List<Parameter>();
        if (parametersSchema.ValueKind == JsonValueKind.Object && parametersSchema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in properties.EnumerateObject())
            {
                CheckPythonName(property.Name, nameof(parametersSchema));
                var type = property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                var about = property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                object? shownDefault = property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("default", out var value) ? value.Clone() : null;
                parameters.Add(new Parameter(property.Name, typeof(JsonElement), IsToken: false, HasDefault: !required.Contains(property.Name), shownDefault, about, SchemaType(type)));
            }
        }

        // Python wants parameters without a default first.
        parameters = [.. parameters.OrderBy(static p => p.HasDefault)];
        return new HostFunction(name, null, [.. parameters], typeof(JsonElement), ResultKind.ValueTaskOfT, description, function);
    }

    private static string SchemaType(string? type) => type switch
    {
        "integer" => "int",
        "number" => "float",
        "string" => "str",
        "boolean" => "bool",
        "array" => "list",
        "object" => "dict",
        _ => "Any",
    };

    public static HostFunction Create(string name, Delegate function, string? description)
    {
        CheckPythonName(name, nameof(name));
        var method = function.Method;
        var parameters = new List<Parameter>();
        foreach (var p in method.GetParameters())
        {
            if (p.ParameterType == typeof(CancellationToken))
            {
                parameters.Add(new Parameter("", p.ParameterType, IsToken: true, HasDefault: false, null, null));
                continue;
            }

            if (p.ParameterType.IsByRef || p.ParameterType.IsPointer || p.IsOut || p.Name is null)
            {
                throw new ArgumentException($"Parameter '{p.Name}' of host function '{name}' cannot cross as JSON.", nameof(function));
            }

            var pythonName = JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
            CheckPythonName(pythonName, nameof(function));
            parameters.Add(new Parameter(pythonName, p.ParameterType, IsToken: false, p.HasDefaultValue, p.HasDefaultValue ? p.DefaultValue : null,
                p.GetCustomAttribute<DescriptionAttribute>()?.Description));
        }

        var (kind, resultType) = ResultOf(method.ReturnType);
        description ??= method.GetCustomAttribute<DescriptionAttribute>()?.Description;
        return new HostFunction(name, function, [.. parameters], resultType, kind, description);
    }

    private static (ResultKind Kind, Type Type) ResultOf(Type type)
    {
        if (type == typeof(void))
        {
            return (ResultKind.None, typeof(object));
        }

        if (type == typeof(Task))
        {
            return (ResultKind.Task, typeof(object));
        }

        if (type == typeof(ValueTask))
        {
            return (ResultKind.ValueTask, typeof(object));
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Task<>))
        {
            return (ResultKind.TaskOfT, type.GetGenericArguments()[0]);
        }

        return type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>)
            ? (ResultKind.ValueTaskOfT, type.GetGenericArguments()[0])
            : (ResultKind.Value, type);
    }

    /// <summary>Python identifiers only; a leading <c>_</c> is refused (the module's own names start with it).</summary>
    private static void CheckPythonName(string name, string paramName)
    {
        GlobalsJson.CheckName(name, paramName);
        if (name.StartsWith('_') || name is "HostFunctionError" or "aio")
        {
            throw new ArgumentException($"The name '{name}' is reserved in the host module.", paramName);
        }
    }

    /// <summary>Writes the description Python builds the callable from: name, docstring, parameters (name, type, default).</summary>
    public void WriteSpec(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("name", Name);
        json.WriteString("doc", Docstring());
        json.WriteString("returns", PythonType(_resultType, _resultKind is ResultKind.None or ResultKind.Task or ResultKind.ValueTask));
        json.WriteStartArray("parameters");
        foreach (var p in _parameters.Where(static p => !p.IsToken))
        {
            json.WriteStartObject();
            json.WriteString("name", p.PythonName);
            json.WriteString("type", p.SchemaType ?? PythonType(p.Type, isNone: false));
            if (p.HasDefault)
            {
                json.WritePropertyName("default");
                try
                {
                    JsonSerializer.Serialize(json, p.Default, JsonOptions);
                }
                catch (Exception e) when (e is JsonException or NotSupportedException)
                {
                    json.WriteNullValue();
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private string Docstring()
    {
        var lines = new List<string>();
        if (!string.IsNullOrWhiteSpace(Description))
        {
            lines.Add(Description.Trim());
        }

        var described = _parameters.Where(static p => !p.IsToken && p.Description is not null).ToList();
        if (described.Count > 0)
        {
            lines.Add("");
            lines.Add("Args:");
            lines.AddRange(described.Select(static p => $"    {p.PythonName}: {p.Description}"));
        }

        return string.Join('\n', lines);
    }

    /// <summary>The Python type a .NET type crosses as, for signatures (<c>help()</c>) and argument errors.</summary>
    internal static string PythonType(Type type, bool isNone)
    {
        if (isNone)
        {
            return "None";
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(bool))
        {
            return "bool";
        }

        if (type == typeof(string) || type == typeof(char) || type == typeof(Guid) || type == typeof(DateTime) || type == typeof(DateTimeOffset))
        {
            return "str";
        }

        if (type == typeof(BigInteger) || type == typeof(long) || type == typeof(int) || type == typeof(short) || type == typeof(byte)
            || type == typeof(sbyte) || type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort))
        {
            return "int";
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return "float";
        }

        if (type == typeof(JsonElement) || type == typeof(object))
        {
            return "Any";
        }

        if (typeof(IDictionary).IsAssignableFrom(type) || type.GetInterfaces().Any(static i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>)))
        {
            return "dict";
        }

        return typeof(IEnumerable).IsAssignableFrom(type) ? "list" : "dict";
    }

    /// <summary>
    /// Reads the arguments (a JSON object by Python name) into the delegate's parameters, or says which argument is
    /// wrong, in words for Python (no .NET type names).
    /// </summary>
    public object?[]? BindArguments(JsonElement arguments, CancellationToken cancellationToken, out string? error)
    {
        error = null;
        if (arguments.ValueKind != JsonValueKind.Object)
        {
            error = "the arguments are not a JSON object";
            return null;
        }

        if (_jsonFunction is not null)
        {
            return BindJson(arguments, out error);
        }

        var values = new object?[_parameters.Length];
        var seen = 0;
        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            if (p.IsToken)
            {
                values[i] = cancellationToken;
                continue;
            }

            if (!arguments.TryGetProperty(p.PythonName, out var value))
            {
                if (!p.HasDefault)
                {
                    error = $"{Name}() missing required argument: '{p.PythonName}'";
                    return null;
                }

                values[i] = p.Default;
                continue;
            }

            seen++;
            try
            {
                values[i] = JsonSerializer.Deserialize(value, p.Type, JsonOptions);
                if (values[i] is null && p.Type.IsValueType && Nullable.GetUnderlyingType(p.Type) is null)
                {
                    throw new JsonException();
                }
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException or OverflowException or ArgumentException)
            {
                error = $"{Name}() argument '{p.PythonName}' must be {Article(PythonType(p.Type, isNone: false))}";
                return null;
            }
        }

        var given = 0;
        foreach (var _ in arguments.EnumerateObject())
        {
            given++;
        }

        if (given != seen)
        {
            error = $"{Name}() got an unexpected keyword argument";
            return null;
        }

        return values;
    }

    private object?[]? BindJson(JsonElement arguments, out string? error)
    {
        error = null;
        foreach (var argument in arguments.EnumerateObject())
        {
            if (!Array.Exists(_parameters, p => p.PythonName == argument.Name))
            {
                error = $"{Name}() got an unexpected keyword argument";
                return null;
            }
        }

        if (Array.Find(_parameters, p => !p.HasDefault && !arguments.TryGetProperty(p.PythonName, out _)) is { } missing)
        {
            error = $"{Name}() missing required argument: '{missing.PythonName}'";
            return null;
        }

        return [arguments.Clone()];
    }

    private static string Article(string pythonType) => pythonType switch
    {
        "int" => "an int",
        "Any" => "a JSON value",
        _ => "a " + pythonType,
    };

    /// <summary>Calls the function and returns its result as JSON text (<c>null</c> for none). Exceptions are the function's own.</summary>
    public async Task<string> InvokeAsync(object?[] arguments, CancellationToken cancellationToken = default)
    {
        if (_jsonFunction is not null)
        {
            var json = await _jsonFunction((JsonElement)arguments[0]!, cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Serialize(json, JsonOptions);
        }

        var returned = _function!.Method.Invoke(_function.Target, BindingFlags.DoNotWrapExceptions, binder: null, arguments, culture: null);
        object? result;
        switch (_resultKind)
        {
            case ResultKind.None:
                return "null";
            case ResultKind.Task:
                await ((Task)returned!).ConfigureAwait(false);
                return "null";
            case ResultKind.ValueTask:
                await ((ValueTask)returned!).ConfigureAwait(false);
                return "null";
            case ResultKind.TaskOfT:
                result = await AwaitResultAsync((Task)returned!).ConfigureAwait(false);
                break;
            case ResultKind.ValueTaskOfT:
                var asTask = (Task)returned!.GetType().GetMethod(nameof(ValueTask<int>.AsTask))!.Invoke(returned, null)!;
                result = await AwaitResultAsync(asTask).ConfigureAwait(false);
                break;
            default:
                result = returned;
                break;
        }

        return JsonSerializer.Serialize(result, _resultType, JsonOptions);
    }

    private static async Task<object?> AwaitResultAsync(Task task)
    {
        await task.ConfigureAwait(false);
        // Completed here: reading the value does not block.
        return task.GetType().GetProperty("Result")!.GetValue(task);
    }

    /// <summary>Integers of any size, as exact JSON numbers (Python reads them back as <c>int</c>).</summary>
    private sealed class BigIntegerConverter : JsonConverter<BigInteger>
    {
        // CPython refuses longer integers (sys.get_int_max_str_digits()).
        private const int MaxDigits = 4300;

        public override BigInteger Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.Number || reader.ValueSpan.Length > MaxDigits + 1)
            {
                throw new JsonException();
            }

            var text = System.Text.Encoding.ASCII.GetString(reader.ValueSpan);
            return BigInteger.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new JsonException();
        }

        public override void Write(Utf8JsonWriter writer, BigInteger value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture), skipInputValidation: true);
    }
}
