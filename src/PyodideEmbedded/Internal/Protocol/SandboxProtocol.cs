using System.Text.Json;

namespace PyodideEmbedded.Internal.Protocol;

// Everything that crosses between the host (C#), Bootstrap.js and Runner.py, declared once on this side.
// The sandbox side learns the numbers, keys and names from the boot config (ForBootConfig), so a change
// here reaches it without a second copy. Adding a host call or a result field means this file plus the
// one on the other side that implements it (Bootstrap.js, or Runner.py for what Python computes).

/// <summary>The host's calls into a started sandbox; Bootstrap.js's one dispatcher serves each.</summary>
internal enum HostCall
{
    /// <summary>Run code (string): the envelope, or null while top-level await is pending.</summary>
    Run,

    /// <summary>Drive a pending run: its envelope, or the ms until the next timer (-1: none).</summary>
    Poll,

    /// <summary>Forget a pending run that was stopped, and its timers.</summary>
    Abandon,

    /// <summary>Allocate an ArrayBuffer of a size, for the host to fill: the buffer, or null.</summary>
    Allocate,

    /// <summary>Write a buffer as a file (path, buffer): null, or a <see cref="FileFailure"/>.</summary>
    WriteFile,

    /// <summary>Read a file (path, max bytes): a byte view, or a <see cref="FileFailure"/>.</summary>
    ReadFile,

    /// <summary>Hand the runner the globals (JSON text) that the next run sets.</summary>
    StageGlobals,

    /// <summary>Make imports see files written since (a package installed).</summary>
    RefreshImports,

    /// <summary>The site-packages folder (string).</summary>
    SitePackages,

    /// <summary>Record the started state that a reset returns to: the wasm memory (an ArrayBuffer), for the host to copy.</summary>
    MarkPristine,

    /// <summary>Check that the sandbox can be reset in place and undo the file system's changes: the wasm memory
    /// (an ArrayBuffer) for the host to restore, or why not (string).</summary>
    PrepareReset,

    /// <summary>After the host restored the memory: reseed Python's random numbers and start counting again.</summary>
    FinishReset,
}

/// <summary>Why a file could not be written into or read from the sandbox (a closed set: anything else is <see cref="Io"/>).</summary>
internal enum FileError
{
    /// <summary>No such file, or a folder on the way is missing.</summary>
    NotFound,

    /// <summary>The path names a folder.</summary>
    IsFolder,

    /// <summary>A part of the path is not a folder.</summary>
    NotFolder,

    /// <summary>The path names something other than a regular file (a device).</summary>
    NotRegularFile,

    /// <summary>A symbolic link is on the path; links are never followed.</summary>
    LinkOnPath,

    /// <summary>A mount point is on the path.</summary>
    MountPointOnPath,

    /// <summary>Permission denied.</summary>
    AccessDenied,

    /// <summary>The JavaScript heap limit refused the bytes.</summary>
    NoSpace,

    /// <summary>The file is larger than what is left of the limit; <see cref="FileFailure.Size"/> says how large.</summary>
    TooLarge,

    /// <summary>The path is not an absolute normal path.</summary>
    InvalidPath,

    /// <summary>Any other failure.</summary>
    Io,
}

/// <summary>A file operation's failure as the sandbox reported it, re-checked by the host.</summary>
internal readonly record struct FileFailure(FileError Error, long Size = 0);

/// <summary>The keys of the JSON envelope a run returns (built by Bootstrap.js around Runner.py's result).</summary>
internal static class EnvelopeKeys
{
    // Top level, written by Bootstrap.js.
    public const string Result = "result";           // Runner.py's result record, when the runner answered
    public const string Failure = "failure";         // an error record, when it did not (the runner failed, or the interpreter crashed)
    public const string Stdout = "stdout";
    public const string StdoutTruncated = "stdoutTruncated";
    public const string Stderr = "stderr";
    public const string StderrTruncated = "stderrTruncated";
    public const string Crashed = "crashed";         // the interpreter is no longer consistent: never run it again
    public const string MemoryRefused = "memoryRefused"; // the memory limit refused Python memory during the run
    public const string Interrupted = "interrupted"; // Python took the host's soft interrupt during the run

    // The result record, written by Runner.py.
    public const string Value = "value";
    public const string Repr = "repr";
    public const string Truncated = "truncated";
    public const string Error = "error";

    // An error record, written by Runner.py and (for a failure) by Bootstrap.js.
    public const string Type = "type";
    public const string Message = "message";
    public const string Line = "line";
    public const string Traceback = "traceback";

    // A file failure, written by Bootstrap.js.
    public const string FileError = "error";
    public const string FileSize = "size";
}

/// <summary>Names that the three languages must agree on.</summary>
internal static class SharedNames
{
    /// <summary>The file name of the runner's code in tracebacks: such frames are never shown to the user.</summary>
    public const string RunnerFile = "<pyodide-embedded>";

    /// <summary>The file name of the user's code in tracebacks.</summary>
    public const string UserFile = "<exec>";

    /// <summary>The module the template loads the runner as; each sandbox takes it out of sys.modules at start.</summary>
    public const string RunnerModule = "_pyodide_embedded_runner";
}

/// <summary>Hands the declarations above to the sandbox side, as the boot config's <c>protocol</c> entry.</summary>
internal static class SandboxProtocol
{
    private static readonly string s_json = Build();

    /// <summary>JSON text: <c>{ calls: {run: 0, ...}, fileErrors: {notFound: 0, ...}, keys: {...}, names: {...} }</c>.</summary>
    public static string ForBootConfig() => s_json;

    // Written with Utf8JsonWriter, not JsonSerializer: this runs on every process's first start, and
    // the serializer's first use (reflection over the types) cost ~100 ms there.
    private static string Build()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            void Members<T>(string name)
                where T : struct, Enum
            {
                json.WriteStartObject(name);
                foreach (var value in Enum.GetValues<T>())
                {
                    json.WriteNumber(JsonNamingPolicy.CamelCase.ConvertName(value.ToString()), Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture));
                }

                json.WriteEndObject();
            }

            void Constants(string name, Type type)
            {
                json.WriteStartObject(name);
                foreach (var field in type.GetFields().Where(static f => f.IsLiteral))
                {
                    json.WriteString(JsonNamingPolicy.CamelCase.ConvertName(field.Name), (string)field.GetRawConstantValue()!);
                }

                json.WriteEndObject();
            }

            json.WriteStartObject();
            Members<HostCall>("calls");
            Members<FileError>("fileErrors");
            Constants("keys", typeof(EnvelopeKeys));
            Constants("names", typeof(SharedNames));
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
