using System.Diagnostics;
using PyodideEmbedded.Internal.Protocol;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A run's files: written into the sandbox before its code (with its globals staged), read back after it,
/// and the host's own words for each <see cref="FileError"/> the sandbox reports.
/// </summary>
internal static class SandboxFiles
{
    // Even a run that used its whole time budget gets this long to have its files read back.
    private static readonly TimeSpan MinReadBackTime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// On the engine thread: writes the files and stages the globals. Returns null when the code may run,
    /// or the result that refuses it (a file could not be written); stops early when <paramref name="stop"/> is set.
    /// </summary>
    public static SandboxResult? WriteInputs(PyodideEngine engine, PreparedInputs inputs, SandboxOptions options, WaitHandle stop, out bool stopped)
    {
        stopped = false;
        foreach (var (path, bytes) in inputs.Files)
        {
            if (engine.WriteFile(path, bytes) is { } failure)
            {
                return new SandboxResult
                {
                    Error = PythonError.Of("OSError", $"could not write '{path}' into the sandbox: {Describe(failure, 0, options)}"),
                    Limit = failure.Error == FileError.NoSpace ? SandboxLimit.JsHeap : SandboxLimit.None,
                };
            }
        }

        if (stop.WaitOne(0))
        {
            stopped = true; // stopped while writing: reported as the time limit, the code never ran
            return null;
        }

        if (inputs.GlobalsJson is { } json)
        {
            engine.StageGlobals(json); // applied by the run that follows at once
        }

        return null;
    }

    /// <summary>Reads the files asked for into the result (or says why each could not be read).</summary>
    public static async Task<SandboxResult> ReadBackAsync(
        RunSupervisor supervisor, SandboxOptions options, SandboxResult result, IReadOnlyList<string> paths, TimeSpan timeout, Stopwatch clock, CancellationToken cancellationToken)
    {
        Dictionary<string, ReadOnlyMemory<byte>>? files = null;
        Dictionary<string, string>? errors = null;
        var unreadReason = "the sandbox was lost before the file could be read";
        if (!supervisor.IsFaulted)
        {
            var budget = timeout - clock.Elapsed;
            var read = await supervisor.CallAsync(_ => Read(supervisor.Engine, paths, options), budget > MinReadBackTime ? budget : MinReadBackTime, cancellationToken).ConfigureAwait(false);
            if (read.Control.Reason == StopReason.Cancelled)
            {
                throw new OperationCanceledException("The run was cancelled.", read.Failure, cancellationToken);
            }

            (files, errors) = read.Value;
            unreadReason = read.Control.Reason == StopReason.None ? "reading the file failed" : "reading the files back took too long";
        }

        files ??= [];
        errors ??= [];
        foreach (var path in paths)
        {
            if (!files.ContainsKey(path) && !errors.ContainsKey(path))
            {
                errors[path] = unreadReason;
            }
        }

        return result with
        {
            Files = files,
            FileErrors = errors,
            SandboxLost = result.SandboxLost || supervisor.IsFaulted,
            Elapsed = clock.Elapsed,
        };
    }

    private static (Dictionary<string, ReadOnlyMemory<byte>> Files, Dictionary<string, string> Errors) Read(PyodideEngine engine, IReadOnlyList<string> paths, SandboxOptions options)
    {
        var files = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var room = options.MaxFileBytes;
        foreach (var path in paths)
        {
            var (bytes, failure) = engine.ReadFile(path, room);
            if (bytes is not null)
            {
                files[path] = bytes;
                room -= bytes.Length;
            }
            else
            {
                errors[path] = Describe(failure ?? new FileFailure(FileError.Io), room, options);
            }
        }

        return (files, errors);
    }

    /// <summary>The host's words for a failure that came from Bootstrap.js (or from code that replaced it).</summary>
    public static string Describe(FileFailure failure, long room, SandboxOptions options) => failure.Error switch
    {
        FileError.NotFound => "no such file",
        FileError.IsFolder => "it is a folder",
        FileError.NotFolder => "a part of the path is not a folder",
        FileError.NotRegularFile => "it is not a regular file",
        FileError.LinkOnPath => "a symbolic link is on the path (links are not followed)",
        FileError.MountPointOnPath => "a mount point is on the path",
        FileError.AccessDenied => "permission denied",
        FileError.NoSpace => "no space left: the sandbox's files are JavaScript ArrayBuffers, which its JavaScript heap limit caps",
        FileError.TooLarge => $"the file is {failure.Size} bytes, more than the {room} bytes left of the limit of {options.MaxFileBytes} bytes",
        _ => "the file could not be accessed",
    };
}
