using Microsoft.ClearScript.JavaScript;
using PyodideEmbedded.Internal.Protocol;

namespace PyodideEmbedded.Internal;

// Reset in place (PythonSandbox.ResetAsync, and the pool's fresh runs): the same isolate back to the state it had
// when its start ended. Bootstrap.js decides whether that is possible (nothing reached past what a reset
// restores) and undoes the file system's changes; this side puts the memory back.
internal sealed partial class PyodideEngine
{
    private MemoryImage? _image;
    private PristineMemory? _pristine;

    /// <summary>
    /// Records the current state as the one a reset returns to. On the engine thread, once the start is done
    /// (packages installed); without a shared memory image (not Linux) resets start a new isolate instead.
    /// </summary>
    public void MarkPristine()
    {
        var memory = Call(HostCall.MarkPristine) as IArrayBuffer;
        using (memory as IDisposable)
        {
            _pristine = _image is null || memory is null ? null
                : memory.InvokeWithDirectAccess(pointer => PristineMemory.TryCapture(_image, pointer, memory.Size));
        }
    }

    /// <summary>Seeds Python's random numbers from the host: after <see cref="MarkPristine"/>, so that the recorded state
    /// is the same in every sandbox.</summary>
    public void ReseedRandom() => Call(HostCall.FinishReset);

    /// <summary>
    /// Resets the sandbox in place, on the engine thread. Returns null when done, or why it could not be done
    /// (the state is then as the last run left it, and the caller starts a new isolate instead).
    /// </summary>
    public string? TryResetInPlace()
    {
        if (_pristine is null)
        {
            return "the started state was not recorded (not Linux, or a pool with ResetInPlace off)";
        }

        var prepared = Call(HostCall.PrepareReset);
        if (prepared is not IArrayBuffer memory)
        {
            return prepared as string ?? "the sandbox gave no memory to reset";
        }

        using (memory as IDisposable)
        {
            if (!memory.InvokeWithDirectAccess(pointer => _pristine.TryRestore(pointer, memory.Size)))
            {
                // Half-restored memory is in no known state: never run it again.
                _pristine = null;
                return "the kernel refused to map the memory image again";
            }
        }

        Call(HostCall.FinishReset);
        return null;
    }
}
