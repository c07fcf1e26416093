namespace PyodideEmbedded;

/// <summary>
/// Data for one <see cref="PythonSandbox.RunAsync(string, RunInputs?, CancellationToken)"/> call: values set as
/// Python globals before the code runs, files written into the sandbox before it, and files read back after it.
/// Pass data this way instead of building code strings from it.
/// </summary>
/// <remarks>
/// <para>File paths are paths of the sandbox's in-memory file system, never of the host. They must be absolute
/// and normalized (no <c>.</c>, <c>..</c> or empty components) and lie under <c>/data</c>, <c>/out</c>,
/// <c>/tmp</c> or <c>/home/pyodide</c> (Python's working folder); <c>/data</c> and <c>/out</c> exist in every
/// sandbox. Anything else, in particular <c>/lib</c> where the standard library and packages live, is refused
/// with <see cref="ArgumentException"/>. Folders are created as needed; a symbolic link on the way is refused.
/// Files written under <c>/home/pyodide</c> can be imported by the code (it is on <c>sys.path</c>): put data
/// under <c>/data</c>.</para>
/// <para>Files stay in the sandbox after the run, like everything else in its state.</para>
/// </remarks>
public sealed record RunInputs
{
    /// <summary>Values set as globals of the code, by name, before it runs (replacing globals of the same name).</summary>
    /// <value>Default <see langword="null"/>: none.</value>
    /// <remarks>
    /// <para>Names are ASCII Python identifiers, not keywords, not starting with <c>__</c>. Values are what JSON
    /// holds: <see langword="null"/> (<c>None</c>), <see cref="bool"/>, <see cref="string"/>, integers of any
    /// size including <see cref="System.Numerics.BigInteger"/> (every digit kept), <see cref="double"/>,
    /// <see cref="float"/> and <see cref="decimal"/> (always a Python <c>float</c>), lists and arrays (<c>list</c>),
    /// dictionaries with string keys (<c>dict</c>), <see cref="System.Text.Json.JsonElement"/> and
    /// <see cref="System.Text.Json.Nodes.JsonNode"/>. Anything else (a <c>DateTime</c>, an object, NaN, bytes)
    /// throws <see cref="ArgumentException"/> naming the global.</para>
    /// <para>Their JSON text counts with the code against <see cref="SandboxOptions.MaxCodeBytes"/>.</para>
    /// </remarks>
    public IReadOnlyDictionary<string, object?>? Globals { get; init; }

    /// <summary>Files written into the sandbox before the code runs: sandbox path to content.</summary>
    /// <value>Default <see langword="null"/>: none.</value>
    /// <remarks>An existing file is replaced. Their total size is capped by <see cref="SandboxOptions.MaxFileBytes"/>.</remarks>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? Files { get; init; }

    /// <summary>Sandbox paths of files to read back after the run, into <see cref="SandboxResult.Files"/>.</summary>
    /// <value>Default <see langword="null"/>: none.</value>
    /// <remarks>Files are read whenever the sandbox survived the run, also after a Python error or a time-out.
    /// A file that is missing, not a regular file, or past what is left of <see cref="SandboxOptions.MaxFileBytes"/>
    /// is reported in <see cref="SandboxResult.FileErrors"/> instead.</remarks>
    public IReadOnlyList<string>? ReadFiles { get; init; }

    /// <summary>A shorter time limit for this run than the sandbox's <see cref="SandboxOptions.Timeout"/>.</summary>
    /// <value>Default <see langword="null"/>: the sandbox's limit. Must be positive and at most the sandbox's limit
    /// (the sandbox's owner sets the ceiling; a caller may only ask for less); otherwise
    /// <see cref="ArgumentOutOfRangeException"/>.</value>
    public TimeSpan? Timeout { get; init; }
}
