using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class LockedModuleLoaderTests
{
    [Theory]
    [InlineData("/pyodide/pyodide.mjs", "pyodide.mjs")]
    [InlineData("file:///pyodide/pyodide.asm.mjs", "pyodide.asm.mjs")]
    [InlineData("/pyodide/../etc/passwd", null)]
    [InlineData("/pyodide/..", null)]
    [InlineData("/etc/passwd", null)]
    [InlineData("file:///etc/passwd", null)]
    [InlineData("https://example.com/pyodide/x.mjs", null)]
    [InlineData("/pyodide/pyodide.asm.wasm", null)]
    [InlineData("/pyodide/sub/x.mjs", null)]
    [InlineData("node:child_process", null)]
    public void ResolveName_OnlyPlainModuleNamesUnderThePrefix(string specifier, string? expected)
    {
        Assert.Equal(expected, LockedModuleLoader.ResolveName(specifier, "/pyodide/"));
    }
}
