using System.Collections.ObjectModel;
using System.Text.Json;

namespace PyodideEmbedded;

/// <summary>
/// What one <see cref="PythonSandbox.RunAsync(string, CancellationToken)"/> call produced: the value of the code's last expression as
/// JSON, what it printed, and the Python exception (or limit) that ended it. Python errors are data here,
/// not exceptions.
/// </summary>
public sealed record SandboxResult
{
    /// <summary>The last expression's value as JSON; <see langword="null"/> for <c>None</c>, for code that
    /// ends in a statement, and when <see cref="Error"/> is set.</summary>
    /// <remarks>Integers keep every digit (read them with <see cref="JsonElement.GetRawText"/> or
    /// <c>System.Numerics.BigInteger.Parse</c> when they may exceed 64 bits). Values JSON cannot hold
    /// exactly come back as a JSON string holding their <c>repr</c>, with <see cref="ValueIsRepr"/> set.</remarks>
    public JsonElement? Value { get; init; }

    /// <summary>Whether <see cref="Value"/> is the <c>repr</c> of a value that JSON cannot hold (a set, a float NaN, an object...).</summary>
    public bool ValueIsRepr { get; init; }

    /// <summary>Whether the value was larger than <see cref="SandboxOptions.MaxOutputBytes"/> and was cut (it is then a repr).</summary>
    public bool ValueTruncated { get; init; }

    /// <summary>What the code wrote to standard output during this run.</summary>
    public string Stdout { get; init; } = "";

    /// <summary>Whether <see cref="Stdout"/> was cut at <see cref="SandboxOptions.MaxOutputBytes"/>.</summary>
    public bool StdoutTruncated { get; init; }

    /// <summary>What the code wrote to standard error during this run.</summary>
    public string Stderr { get; init; } = "";

    /// <summary>Whether <see cref="Stderr"/> was cut at <see cref="SandboxOptions.MaxOutputBytes"/>.</summary>
    public bool StderrTruncated { get; init; }

    /// <summary>The exception that ended the run, or <see langword="null"/> when it completed.</summary>
    /// <remarks>Its <see cref="PythonError.TypeName"/> is always a real Python exception type. When a limit ended the
    /// run, <see cref="Limit"/> says which, and this error reports it the way Python would (<c>TimeoutError</c>,
    /// <c>MemoryError</c>, ...).</remarks>
    public PythonError? Error { get; init; }

    /// <summary>Which limit of the sandbox ended the run; <see cref="SandboxLimit.None"/> when none did.</summary>
    public SandboxLimit Limit { get; init; }

    /// <summary>Whether the sandbox had to be discarded to stop this run (its Python state is gone and
    /// it is now <see cref="PythonSandbox.IsFaulted"/>).</summary>
    public bool SandboxLost { get; init; }

    /// <summary>Whether the run was stopped by its time limit (<see cref="Limit"/> is <see cref="SandboxLimit.Time"/>,
    /// <see cref="Error"/> a <c>TimeoutError</c>).</summary>
    public bool TimedOut => Limit == SandboxLimit.Time;

    /// <summary>The files named in <see cref="RunInputs.ReadFiles"/> that were read back after the run: sandbox path to content.</summary>
    /// <value>Empty when no file was asked for or none could be read.</value>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Files { get; init; } = ReadOnlyDictionary<string, ReadOnlyMemory<byte>>.Empty;

    /// <summary>The files named in <see cref="RunInputs.ReadFiles"/> that could not be read: sandbox path to the reason
    /// (for example <c>no such file</c>).</summary>
    /// <value>Empty when every file asked for was read.</value>
    public IReadOnlyDictionary<string, string> FileErrors { get; init; } = ReadOnlyDictionary<string, string>.Empty;

    /// <summary>Wall-clock time of the run, measured by the host.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>How long the call waited before the run began: for a sandbox from a <see cref="SandboxPool"/> (ready,
    /// started for the call, or freed by another), for a session's or a sandbox's turn. Not part of <see cref="Elapsed"/>.</summary>
    public TimeSpan SandboxWait { get; init; }

    /// <summary>Whether the run completed without an exception.</summary>
    public bool Succeeded => Error is null;

    /// <summary>Returns this result when the run succeeded; otherwise throws.</summary>
    /// <exception cref="SandboxLimitException">A limit ended the run (<see cref="Limit"/>).</exception>
    /// <exception cref="PythonException">The code raised a Python exception.</exception>
    public SandboxResult ThrowIfError() =>
        Limit != SandboxLimit.None ? throw new SandboxLimitException(this)
        : Error is null ? this
        : throw new PythonException(Error);
}
