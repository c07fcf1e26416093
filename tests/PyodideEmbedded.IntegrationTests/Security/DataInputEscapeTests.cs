using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 6: data passed in and out (RunInputs): paths that try to leave the allowed folders or shadow the
/// standard library, links planted by earlier code, hostile globals, and a realm that lies about files.</summary>
[Collection(SecurityDefaultSandboxDefinition.Name)]
public sealed class DataInputEscapeTests(SharedSandbox fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("/data/../../lib/python3.14/os.py")]
    [InlineData("/data/../lib/python3.14/json/__init__.py")]
    [InlineData("/lib/python3.14/json/__init__.py")]
    [InlineData("/lib/python3.14/site-packages/csv.py")]
    [InlineData("/lib/python314.zip")]
    [InlineData("/home/pyodide/../../lib/python3.14/re.py")]
    [InlineData("/proc/self/environ")]
    [InlineData("/dev/null")]
    [InlineData("data/relative.py")]
    [InlineData("/data/./x")]
    [InlineData("/data//x")]
    [InlineData("\\lib\\python3.14\\os.py")]
    [InlineData("/pyodide/pyodide.asm.wasm")]
    public async Task FilePath_OutsideTheAllowedFolders_IsRefusedBothWays(string path)
    {
        var write = await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.RunAsync("None", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { [path] = "raise SystemExit('shadowed')\n"u8.ToArray() },
        }));
        var read = await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.RunAsync("None", new RunInputs { ReadFiles = [path] }));

        Assert.Contains("The sandbox path", write.Message, StringComparison.Ordinal);
        Assert.Contains("The sandbox path", read.Message, StringComparison.Ordinal);
        AssertNoHostData(write.Message + read.Message, path);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task StdlibModules_CannotBeShadowedThroughInputs()
    {
        // Neither /lib nor a path that resolves into it is accepted; what the code imports stays the standard library.
        await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.RunAsync("None", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/lib/python3.14/csv.py"] = "X = 'shadowed'\n"u8.ToArray() },
        }));

        var csv = await RunValueAsync(_sandbox, "import csv, sys\n[csv.__file__, hasattr(csv, 'X'), 'csv' in sys.modules]");

        Assert.StartsWith("/lib/python314.zip/", csv[0].GetString(), StringComparison.Ordinal);
        Assert.False(csv[1].GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SymlinkPlantedByCode_IsNotFollowedByHostWritesOrReads()
    {
        var planted = await RunValueAsync(_sandbox, """
            import os, site
            os.makedirs('/data/sec_links', exist_ok=True)
            for name, target in [('stdlib', '/lib/python3.14'), ('site', site.getsitepackages()[0]), ('env', '/proc/self/environ'), ('file', '/lib/python3.14')]:
                if not os.path.islink('/data/sec_links/' + name):
                    os.symlink(target, '/data/sec_links/' + name)
            os.path.islink('/data/sec_links/stdlib')
            """);

        var write = await EscapeAssert.RunAttackAsync(_sandbox, "None", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/sec_links/site/planted_mod.py"] = "X = 1\n"u8.ToArray() },
        });
        var overwrite = await EscapeAssert.RunAttackAsync(_sandbox, "None", new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/sec_links/file"] = "x"u8.ToArray() },
        });
        var read = await EscapeAssert.RunAttackAsync(_sandbox, "None", new RunInputs { ReadFiles = ["/data/sec_links/env", "/data/sec_links/stdlib/os.py"] });
        var check = await RunValueAsync(_sandbox, "import os, site, importlib\nimportlib.invalidate_caches()\n[os.path.exists(site.getsitepackages()[0] + '/planted_mod.py'), os.path.islink('/data/sec_links/file')]");

        Assert.True(planted.GetBoolean());
        Assert.Equal("OSError", write.Error!.TypeName);
        Assert.Contains("symbolic link", write.Error.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic link", overwrite.Error!.Message, StringComparison.Ordinal);
        Assert.Empty(read.Files);
        Assert.All(read.FileErrors.Values, reason => Assert.Contains("symbolic link", reason, StringComparison.Ordinal));
        Assert.False(check[0].GetBoolean());
        Assert.True(check[1].GetBoolean());
        await AssertStillAnswersAsync(_sandbox);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("__builtins__")]
    [InlineData("__loader__")]
    [InlineData("__spec__")]
    [InlineData("__dict__")]
    public async Task DunderGlobal_IsRefusedAndBuiltinsStayIntact(string name)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.RunAsync("None", new RunInputs
        {
            Globals = new Dictionary<string, object?> { [name] = new Dictionary<string, object?> { ["open"] = null } },
        }));

        var intact = await RunValueAsync(_sandbox, "import builtins\n[__builtins__ is builtins or __builtins__ is vars(builtins), callable(open)]");

        Assert.True(intact[0].GetBoolean());
        Assert.True(intact[1].GetBoolean());
    }

    public static TheoryData<object> NotJson => new()
    {
        new Uri("file:///etc/passwd"),
        new FileInfo("/etc/passwd"),
        (Func<string>)(() => "host code"),
        typeof(File),
        AppDomain.CurrentDomain,
        new Dictionary<object, object> { [1] = 2 },
        new object[] { new object[] { new Version(1, 0) } },
    };

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [MemberData(nameof(NotJson))]
    public async Task GlobalThatIsNotJson_IsRefusedBeforeAnythingCrosses(object value)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.RunAsync("hostile_global", new RunInputs
        {
            Globals = new Dictionary<string, object?> { ["hostile_global"] = value },
        }));

        Assert.Contains("'hostile_global'", e.Message, StringComparison.Ordinal);
        Assert.Equal("NameError", (await _sandbox.RunAsync("hostile_global")).Error!.TypeName);
    }
}
