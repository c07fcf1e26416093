using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Files, globals and packages: the calls into Bootstrap.js's <c>io</c> function. Bytes cross as
/// ArrayBuffers that the host fills or reads in place (<c>IArrayBuffer.WriteBytes</c> is slow for
/// megabytes), and nothing else crosses but strings and numbers: no host object enters the realm.
/// What comes back was built where sandboxed code can reach, so its type and size are checked here.
/// </summary>
internal sealed partial class PyodideEngine
{
    private const int AllocateOp = 1;
    private const int WriteFileOp = 2;
    private const int ReadFileOp = 3;
    private const int StageGlobalsOp = 4;
    private const int RefreshImportsOp = 5;
    private const int SitePackagesOp = 6;

    private ScriptObject? _io;

    // Like the run dispatcher: a function made by Evaluate is much cheaper to call than one read with GetProperty.
    private void AttachIo(ScriptObject api)
    {
        _io = (ScriptObject)_engine.Evaluate("(() => { let io; return (op, a, b) => op === 0 ? void (io = a) : io(op, a, b); })()");
        _io.InvokeAsFunction(0, api.GetProperty("io"));
    }

    /// <summary>Writes a file into the sandbox's file system; returns null, or the error code from Bootstrap.js.</summary>
    public string? WriteFile(string path, ReadOnlyMemory<byte> bytes)
    {
        if (_io!.InvokeAsFunction(AllocateOp, bytes.Length) is not IArrayBuffer buffer)
        {
            return "ENOSPC"; // V8 refused the allocation (the isolate's ArrayBuffer limit)
        }

        try
        {
            if (buffer.Size != (ulong)bytes.Length)
            {
                return "EIO";
            }

            CopyInto(buffer, bytes);
            return Code(_io.InvokeAsFunction(WriteFileOp, path, buffer));
        }
        finally
        {
            (buffer as IDisposable)?.Dispose();
        }
    }

    /// <summary>Reads a file of at most <paramref name="maxBytes"/> bytes: its bytes, or an error code
    /// (<c>ENOENT</c>, <c>EFBIG size</c>, ...).</summary>
    public (byte[]? Bytes, string? Error) ReadFile(string path, long maxBytes)
    {
        var outcome = _io!.InvokeAsFunction(ReadFileOp, path, (double)maxBytes);
        try
        {
            if (outcome is not ITypedArray<byte> view)
            {
                return (null, Code(outcome) ?? "EIO");
            }

            var size = view.Size;
            if (size > (ulong)maxBytes)
            {
                return (null, "EFBIG " + size);
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
    public void StageGlobals(string json) => _io!.InvokeAsFunction(StageGlobalsOp, json);

    /// <summary>Lets imports see files written since (a package just installed).</summary>
    public void RefreshImports() => _io!.InvokeAsFunction(RefreshImportsOp);

    /// <summary>The site-packages folder, as Python's <c>sys.path</c> named it when the sandbox started.</summary>
    public string SitePackages() => _io!.InvokeAsFunction(SitePackagesOp) as string ?? "";

    // An error code is short ASCII; anything else from the realm is just a failure.
    private static string? Code(object? outcome) => outcome switch
    {
        null or Undefined => null,
        string { Length: > 0 and <= 40 } code when code.All(static c => c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') or ' ') => code,
        _ => "EIO",
    };
}
