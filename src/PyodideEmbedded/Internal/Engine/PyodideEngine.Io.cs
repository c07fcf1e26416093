using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;
using PyodideEmbedded.Internal.Protocol;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Files, globals and packages: the IO host calls. Bytes cross as ArrayBuffers that the host fills or
/// reads in place (<c>IArrayBuffer.WriteBytes</c> is slow for megabytes), and nothing else crosses but
/// strings and numbers: no host object enters the realm. What comes back was built where sandboxed code
/// can reach, so its type, range and size are checked here.
/// </summary>
internal sealed partial class PyodideEngine
{
    /// <summary>Writes a file into the sandbox's file system; returns null, or why it could not.</summary>
    public FileFailure? WriteFile(string path, ReadOnlyMemory<byte> bytes)
    {
        if (Call(HostCall.Allocate, bytes.Length) is not IArrayBuffer buffer)
        {
            return new FileFailure(FileError.NoSpace); // V8 refused the allocation (the isolate's ArrayBuffer limit)
        }

        try
        {
            if (buffer.Size != (ulong)bytes.Length)
            {
                return new FileFailure(FileError.Io);
            }

            CopyInto(buffer, bytes);
            var outcome = Call(HostCall.WriteFile, path, buffer);
            return outcome is null or Undefined ? null : ReadFailure(outcome);
        }
        finally
        {
            (buffer as IDisposable)?.Dispose();
        }
    }

    /// <summary>Reads a file of at most <paramref name="maxBytes"/> bytes: its bytes, or why it could not.</summary>
    public (byte[]? Bytes, FileFailure? Failure) ReadFile(string path, long maxBytes)
    {
        var outcome = Call(HostCall.ReadFile, path, (double)maxBytes);
        try
        {
            if (outcome is not ITypedArray<byte> view)
            {
                return (null, ReadFailure(outcome));
            }

            var size = view.Size;
            if (size > (ulong)maxBytes)
            {
                return (null, new FileFailure(FileError.TooLarge, (long)Math.Min(size, long.MaxValue)));
            }

            var bytes = new byte[size];
            if (size > 0)
            {
                view.InvokeWithDirectAccess(pointer =>
                {
                    unsafe
                    {
                        new ReadOnlySpan<byte>((void*)pointer, bytes.Length).CopyTo(bytes);
                    }
                });
            }

            return (bytes, null);
        }
        finally
        {
            (outcome as IDisposable)?.Dispose();
        }
    }

    /// <summary>Hands the runner the globals (JSON text) that the next run sets before its code.</summary>
    public void StageGlobals(string json) => Call(HostCall.StageGlobals, json);

    /// <summary>Lets imports see files written since (a package just installed).</summary>
    public void RefreshImports() => Call(HostCall.RefreshImports);

    /// <summary>The site-packages folder, as Python's <c>sys.path</c> named it when the sandbox started.</summary>
    public string SitePackages() => Call(HostCall.SitePackages) as string ?? "";

    /// <summary>A failure record from the realm, re-checked: a known <see cref="FileError"/> and a finite size; anything else is <see cref="FileError.Io"/>.</summary>
    internal static FileFailure ReadFailure(object? outcome)
    {
        if (outcome is not ScriptObject record)
        {
            return new FileFailure(FileError.Io);
        }

        try
        {
            var error = Number(record.GetProperty(EnvelopeKeys.FileError));
            var size = Number(record.GetProperty(EnvelopeKeys.FileSize));
            return error is { } code && code == Math.Floor(code) && code is >= 0 and <= int.MaxValue && Enum.IsDefined((FileError)(int)code)
                ? new FileFailure((FileError)(int)code, size is >= 0 and <= long.MaxValue ? (long)size.Value : 0)
                : new FileFailure(FileError.Io);
        }
        catch (ScriptEngineException)
        {
            return new FileFailure(FileError.Io); // a getter planted by sandboxed code threw
        }
        finally
        {
            (record as IDisposable)?.Dispose();
        }
    }

    private static double? Number(object? value) => value switch
    {
        int i => i,
        long l => l,
        double d when double.IsFinite(d) => d,
        _ => null,
    };
}
