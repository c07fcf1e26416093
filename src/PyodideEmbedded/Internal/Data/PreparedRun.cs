using System.Text;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A run's code and inputs, checked against the sandbox options before any sandbox is involved, so
/// that a pool refuses bad input without using up a ready sandbox on it.
/// </summary>
internal sealed class PreparedRun
{
    private PreparedRun(string code, TimeSpan timeout, PreparedInputs? inputs, SandboxResult? refused)
    {
        Code = code;
        Timeout = timeout;
        Inputs = inputs;
        Refused = refused;
    }

    public string Code { get; }

    /// <summary>The run's time limit: the sandbox's, or the shorter one the inputs asked for.</summary>
    public TimeSpan Timeout { get; }

    public PreparedInputs? Inputs { get; }

    /// <summary>The answer when the run is over a size limit and must not start; else null.</summary>
    public SandboxResult? Refused { get; }

    /// <exception cref="ArgumentException">A global's name or value, or a file path, is not allowed.</exception>
    public static PreparedRun Create(string code, RunInputs? inputs, SandboxOptions options)
    {
        if (inputs?.Timeout is { } asked && (asked <= TimeSpan.Zero || asked > options.Timeout))
        {
            throw new ArgumentOutOfRangeException(nameof(inputs), asked,
                $"RunInputs.Timeout must be positive and at most the sandbox's Timeout ({options.Timeout.TotalMilliseconds:0.###} ms).");
        }

        var codeBytes = Encoding.UTF8.GetByteCount(code);
        var prepared = inputs is null ? null : PreparedInputs.Create(inputs, Math.Max(0, options.MaxCodeBytes - codeBytes));
        var refusal = codeBytes > options.MaxCodeBytes
            ? (SandboxLimit.CodeSize, PythonError.Of("ValueError", $"the code is {codeBytes} bytes, more than the limit of {options.MaxCodeBytes} bytes"))
            : prepared is not null && codeBytes + prepared.GlobalsBytes > options.MaxCodeBytes
            ? (SandboxLimit.CodeSize, PythonError.Of("ValueError", $"the code and its globals (as JSON) take more than the limit of {options.MaxCodeBytes} bytes"))
            : prepared is not null && prepared.FileBytes > options.MaxFileBytes
            ? (SandboxLimit.FileSize, PythonError.Of("OSError", $"the files are {prepared.FileBytes} bytes, more than the limit of {options.MaxFileBytes} bytes"))
            : ((SandboxLimit Limit, PythonError Error)?)null;
        return new PreparedRun(code, inputs?.Timeout ?? options.Timeout, prepared, refusal is { } r ? new SandboxResult { Error = r.Error, Limit = r.Limit } : null);
    }
}
