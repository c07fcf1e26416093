using PyodideEmbedded.Cli;

namespace PyodideEmbedded.Tests;

public sealed class ExitCodesTests
{
    [Fact]
    public void For_MapsEachOutcome()
    {
        Assert.Equal(0, ExitCodes.For(new SandboxResult()));
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("ValueError", "x", "ValueError: x", "") }));
        Assert.Equal(124, ExitCodes.For(new SandboxResult { Error = new PythonError("TimeoutError", "t", "", ""), Limit = SandboxLimit.Time }));
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("TimeoutError", "raised by user code", "", "") }));
        Assert.Equal(137, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", ""), Limit = SandboxLimit.Memory }));
        Assert.Equal(137, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", ""), Limit = SandboxLimit.JsHeap }));
        // `raise MemoryError` in the code is the code's own error, not the memory limit.
        Assert.Equal(1, ExitCodes.For(new SandboxResult { Error = new PythonError("MemoryError", "", "", "") }));
        Assert.Equal(2, ExitCodes.For(new SandboxResult { Error = new PythonError("ValueError", "", "", ""), Limit = SandboxLimit.CodeSize }));
        Assert.Equal(5, ExitCodes.For(new SandboxResult { Error = new PythonError("SystemError", "", "", ""), Limit = SandboxLimit.EngineFailure }));
    }
}
