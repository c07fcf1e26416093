using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class SandboxPathTests
{
    [Theory]
    [InlineData("/data/in.csv")]
    [InlineData("/out/plot.png")]
    [InlineData("/tmp/a/b/c.txt")]
    [InlineData("/home/pyodide/notes.md")]
    [InlineData("/data/dossier été/ünïcode ✓.txt")]
    [InlineData("/data/...hidden")]
    public void Problem_AllowedPath_IsNull(string path)
    {
        Assert.Null(SandboxPath.Problem(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("data/in.csv")]
    [InlineData("/data/../../lib/python3.14/os.py")]
    [InlineData("/data/../lib/x")]
    [InlineData("/home/pyodide/../pyodide/x")]
    [InlineData("/data/./x")]
    [InlineData("/data//x")]
    [InlineData("/data/x/")]
    [InlineData("/data")]
    [InlineData("/")]
    [InlineData("/lib/python3.14/json/__init__.py")]
    [InlineData("/lib/python3.14/site-packages/evil.py")]
    [InlineData("/proc/self/environ")]
    [InlineData("/dev/urandom")]
    [InlineData("/home/web_user/x")]
    [InlineData("/home/x")]
    [InlineData("/datax/y")]
    [InlineData("/tmpfile")]
    [InlineData("/etc/passwd")]
    [InlineData("\\data\\x")]
    [InlineData("/data/a\\..\\..\\lib")]
    [InlineData("/data/x\0.py")]
    [InlineData("/data/line\nbreak")]
    public void Problem_RefusedPath_SaysWhy(string path)
    {
        Assert.NotNull(SandboxPath.Problem(path));
        var e = Assert.Throws<ArgumentException>(() => SandboxPath.Check(path, "inputs"));
        Assert.StartsWith("The sandbox path '", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_LoneSurrogate_IsRefused()
    {
        Assert.NotNull(SandboxPath.Problem("/data/x" + '\ud800'));
        Assert.Null(SandboxPath.Problem("/data/😀"));
    }

    [Fact]
    public void Problem_OverlongComponent_IsRefused()
    {
        Assert.NotNull(SandboxPath.Problem("/data/" + new string('a', 256)));
        Assert.Null(SandboxPath.Problem("/data/" + new string('a', 255)));
    }
}
