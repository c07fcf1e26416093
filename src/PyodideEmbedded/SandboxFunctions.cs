using PyodideEmbedded.Internal;

namespace PyodideEmbedded;

/// <summary>
/// .NET functions that sandboxed Python may call, as the module <c>host</c> (<c>from host import add</c>). Set it as
/// <see cref="SandboxOptions.Functions"/>; every sandbox made with those options (and every sandbox of a pool) is granted
/// exactly these functions.
/// </summary>
/// <remarks>
/// <para>Each function is any delegate, synchronous or returning <see cref="Task"/>/<see cref="ValueTask"/>. Its
/// parameters and result cross as JSON through System.Text.Json (so <see cref="long"/>, <see cref="double"/>,
/// <see cref="bool"/>, <see cref="string"/>, <see cref="System.Numerics.BigInteger"/> (exact),
/// <see cref="System.Text.Json.JsonElement"/>, arrays, lists, dictionaries with string keys, records and classes, whose
/// properties Python sees in snake_case); a <see cref="CancellationToken"/> parameter is not seen by Python and is
/// cancelled when the run's time limit passes or its caller cancels. Python parameter names are the .NET names in
/// snake_case.</para>
/// <para>From Python a call is synchronous (the sandbox's thread waits while the function runs on the thread pool);
/// <c>await host.f.aio(...)</c> does the same from async code. The time it takes counts against the run's time limit;
/// arguments and results are capped at <see cref="SandboxOptions.MaxOutputBytes"/> of JSON each, and a run may make at
/// most <see cref="MaxCallsPerRun"/> calls. An exception becomes <c>host.HostFunctionError</c> in Python, with a
/// generic message unless it is a <see cref="SandboxFunctionException"/>.</para>
/// <para>The sandbox copies the functions when it starts: adding more later affects only sandboxes started later.
/// Not thread-safe while being filled.</para>
/// </remarks>
public sealed class SandboxFunctions
{
    private readonly List<HostFunction> _functions = [];

    /// <summary>Most calls to host functions that one run may make; later calls raise <c>host.HostFunctionError</c>.</summary>
    /// <value>Default 1000. Between 1 and 1,000,000.</value>
    public int MaxCallsPerRun { get; init; } = 1000;

    /// <summary>The names granted so far, in the order they were added.</summary>
    public IReadOnlyList<string> Names => _functions.ConvertAll(static f => f.Name);

    /// <summary>Grants a function under a Python name.</summary>
    /// <param name="name">The Python name: an ASCII identifier, not a keyword, not starting with <c>_</c>.</param>
    /// <param name="function">The function; a lambda or method group (<c>(long a, long b) =&gt; a + b</c>).</param>
    /// <param name="description">Its docstring in Python (what <c>help()</c> and a model see); default: the method's
    /// <see cref="System.ComponentModel.DescriptionAttribute"/>, if any.</param>
    /// <returns>This instance, to chain calls.</returns>
    /// <exception cref="ArgumentException">The name is not allowed or already granted, or a parameter cannot cross as JSON
    /// (a pointer, a by-ref parameter, a name Python cannot use).</exception>
    public SandboxFunctions Add(string name, Delegate function, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(function);
        if (_functions.Exists(f => f.Name == name))
        {
            throw new ArgumentException($"A host function named '{name}' is already granted.", nameof(name));
        }

        _functions.Add(HostFunction.Create(name, function, description));
        return this;
    }

    /// <summary>
    /// Grants a function described by a JSON schema instead of a .NET signature, such as a tool of an agent framework:
    /// it gets the arguments as one JSON object and returns a JSON value.
    /// </summary>
    /// <param name="name">The Python name: an ASCII identifier, not a keyword, not starting with <c>_</c>.</param>
    /// <param name="description">Its docstring in Python.</param>
    /// <param name="parametersSchema">A JSON schema of an object (<c>properties</c>, <c>required</c>): each property becomes a
    /// Python parameter (its <c>type</c> and <c>description</c> shown by <c>help()</c>); those not required default to <c>None</c>.</param>
    /// <param name="function">Gets the arguments object (only the properties given, checked against the names and the
    /// required list, not against their types) and the call's token.</param>
    /// <returns>This instance, to chain calls.</returns>
    /// <exception cref="ArgumentException">The name, or a property's name, is not allowed, or the name is already granted.</exception>
    public SandboxFunctions AddJson(string name, string? description, System.Text.Json.JsonElement parametersSchema,
        Func<System.Text.Json.JsonElement, CancellationToken, ValueTask<System.Text.Json.JsonElement>> function)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(function);
        if (_functions.Exists(f => f.Name == name))
        {
            throw new ArgumentException($"A host function named '{name}' is already granted.", nameof(name));
        }

        _functions.Add(HostFunction.CreateJson(name, description, parametersSchema.Clone(), function));
        return this;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCallsPerRun, 1, nameof(MaxCallsPerRun));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxCallsPerRun, 1_000_000, nameof(MaxCallsPerRun));
    }

    /// <summary>A copy that later <see cref="Add"/> calls do not change.</summary>
    internal FunctionTable Freeze() => new([.. _functions], MaxCallsPerRun);
}
