using System.Text;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// Tenant A changes the file system. What the host wrote (RunInputs.Files) and what the code wrote, linked, made or
/// changed directory to are undone by an in-place reset (the started files are read-only; everything added is
/// removed); permission changes reach past it, so those resets take a new isolate. Either way tenant B finds nothing.
/// </summary>
public sealed class FileSystemPoisoningTests(DefaultRecyclingFixture fixture) : IClassFixture<DefaultRecyclingFixture>
{
    private RecyclingSandbox Tenant => fixture.Tenant;

    private const string Zip = "/lib/python314.zip";

    // What B compares with a clean sandbox: the listing of every writable folder and of /lib, the working folder,
    // the standard library's mode, and the paths A touched.
    private const string Probe = """
        import os, json
        def tree(root):
            out = []
            for folder, dirs, files in os.walk(root):
                out += [os.path.join(folder, n) for n in sorted(dirs + files)]
            return out
        paths = ['/data/a.txt', '/out/b.txt', '/tmp/c.txt', '/home/pyodide/d.txt', '/tmp/dir/sub/e.txt',
                 '/lib/python3.14/site-packages/evil_a.py', '/lib/evil_a.txt', '/tmp/link', '/lib/evil_link', '/data/host.txt']
        json.dumps({
            'trees': {r: tree(r) for r in ['/data', '/out', '/tmp', '/home/pyodide', '/lib']},
            'cwd': os.getcwd(),
            'modes': {p: oct(os.stat(p).st_mode) for p in ['/lib/python314.zip', '/tmp', '/data', '/home/pyodide']},
            'exists': [p for p in paths if os.path.lexists(p)],
        }, sort_keys=True)
        """;

    private async Task AssertResetUndoesAsync(string poison, ResetPath path, RunInputs? inputs = null)
    {
        await Tenant.CleanAsync();
        var clean = await Tenant.ValueAsync(Probe);
        await Tenant.PoisonAsync(poison, inputs);
        await Tenant.ResetAsync(path);
        Assert.Equal(clean.GetString(), (await Tenant.ValueAsync(Probe)).GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task FilesWrittenByCode_InEveryWritableFolderAndLib_AreGone() => AssertResetUndoesAsync(
        // Files written anywhere (where the code may: not over the read-only standard library) are removed: in place.
        $$"""
        import os
        for p in ['/data/a.txt', '/out/b.txt', '/tmp/c.txt', '/home/pyodide/d.txt']:
            with open(p, 'w') as f:
                f.write('tenant A')
        os.makedirs('/tmp/dir/sub')
        open('/tmp/dir/sub/e.txt', 'w').write('tenant A')
        for p, text in [('/lib/python3.14/site-packages/evil_a.py', 'EVIL = 1'), ('/lib/evil_a.txt', 'A')]:
            try:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                open(p, 'w').write(text)
            except OSError:
                pass
        """,
        ResetPath.InPlace);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ModuleWrittenIntoSitePackages_IsNotImportableByTenantB()
    {
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("""
            import os, sys, importlib
            d = next(p for p in sys.path if p.endswith('site-packages'))
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, 'evil_a.py'), 'w').write('EVIL = 1')
            open('/home/pyodide/evil_b.py', 'w').write('EVIL = 1')  # the working folder is on sys.path too
            importlib.invalidate_caches()
            import evil_a
            """);
        await Tenant.ResetAsync(ResetPath.InPlace);

        var b = await Tenant.ValueAsync("""
            import importlib.util
            [importlib.util.find_spec('evil_a') is None, importlib.util.find_spec('evil_b') is None]
            """);
        Same.Json("[true,true]", b);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task Symlinks_AreGone() => AssertResetUndoesAsync(
        // Links are nodes like any other: removed in place.
        $"import os\nos.symlink('{Zip}', '/tmp/link')\ntry:\n    os.symlink('/tmp', '/lib/evil_link')\nexcept OSError:\n    pass",
        ResetPath.InPlace);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task PermissionChanges_AreUndone() => AssertResetUndoesAsync(
        // chmod changes a node the start made: new isolate.
        $"import os\nos.chmod('{Zip}', 0)\nos.chmod('/tmp', 0o500)\nos.chmod('/data', 0)\nos.chmod('/home/pyodide', 0o777)",
        ResetPath.NewIsolate);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task WorkingFolder_IsAsStarted() => AssertResetUndoesAsync(
        // The reset returns to the started folder: in place.
        "import os\nos.chdir('/tmp')",
        ResetPath.InPlace);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public Task FilesWrittenByTheHost_UnderData_AreRemovedInPlace() => AssertResetUndoesAsync(
        // The host's own writes under the writable folders are what a reset removes: in place. A reads them
        // (read-only) and keeps a descriptor open on one.
        """
        import os
        assert open('/data/host.txt').read() == 'from the host'
        kept_fd = os.open('/data/host.txt', os.O_RDONLY)
        kept_file = open('/data/nested/deep/host2.txt', 'rb')
        """,
        ResetPath.InPlace,
        new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>>
            {
                ["/data/host.txt"] = Encoding.UTF8.GetBytes("from the host"),
                ["/data/nested/deep/host2.txt"] = Encoding.UTF8.GetBytes("deep"),
            },
        });

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("/data/h1.txt", "/data/sub/h2.txt")]
    [InlineData("/out/h1.txt", "/out/sub/h2.txt")]
    [InlineData("/tmp/h1.txt", "/tmp/sub/h2.txt")]
    public Task FilesWrittenByTheHost_InAWritableFolder_AreGoneAndTheirDescriptorsClosed(string first, string second) =>
        AssertHostFilesRemovedInPlaceAsync(first, second);

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("/home/pyodide/h1.txt", "/home/pyodide/sub/h2.txt")]
    public Task FilesWrittenByTheHost_InTheHomeFolder_AreGoneInPlace(string first, string second) =>
        AssertHostFilesRemovedInPlaceAsync(first, second);

    private async Task AssertHostFilesRemovedInPlaceAsync(params string[] paths)
    {
        await Tenant.CleanAsync();
        var a = await Tenant.PoisonAsync(
            "import os\n[os.open(p, os.O_RDONLY) for p in paths]",
            new RunInputs
            {
                Globals = new Dictionary<string, object?> { ["paths"] = paths },
                Files = paths.ToDictionary(p => p, p => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes("host " + p)),
            });
        var fds = a.Value!.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray();

        await Tenant.ResetAsync(ResetPath.InPlace);

        var b = await Tenant.Sandbox.RunAsync(
            "import os\ndef is_open(fd):\n    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n        return False\n" +
            "[[os.path.exists(p) for p in paths], [is_open(fd) for fd in fds], os.path.exists(os.path.dirname(paths[-1]))]",
            new RunInputs { Globals = new Dictionary<string, object?> { ["paths"] = paths, ["fds"] = fds }, ReadFiles = paths });
        Assert.True(b.Succeeded, b.Error?.Summary);
        Same.Json("[[false,false],[false,false],false]", b.Value!.Value);
        Assert.Empty(b.Files);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostFilesOfTenantB_AreItsOwn_AfterTenantAsWereRemoved()
    {
        // Same path for both tenants: B's content, never A's, and A's other file is gone.
        await Tenant.CleanAsync();
        var files = (string text) => new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/same.txt"] = Encoding.UTF8.GetBytes(text) };
        await Tenant.PoisonAsync("1", new RunInputs { Files = new Dictionary<string, ReadOnlyMemory<byte>>(files("tenant A")) { ["/data/only-a.txt"] = new byte[] { 1 } } });
        await Tenant.ResetAsync(ResetPath.InPlace);

        var b = await Tenant.ValueAsync("import os\n[open('/data/same.txt').read(), os.path.exists('/data/only-a.txt')]", new RunInputs { Files = files("tenant B") });
        Same.Json("""["tenant B",false]""", b);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Ctypes_CdllNone_WithInteropOff_TakesANewIsolate_AndLeavesNothing()
    {
        // ctypes reaches libffi and the dynamic loader: new isolate. A also scribbles on a live str through memmove.
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("""
            import ctypes, string, sys
            libc = ctypes.CDLL(None)
            kept_buffer = ctypes.create_string_buffer(b'TENANT-A')
            text = string.ascii_lowercase
            ctypes.memmove(id(text) + sys.getsizeof(text) - len(text) - 1, b'EVIL', 4)
            """);
        await Tenant.ResetAsync(ResetPath.NewIsolate);

        var b = await Tenant.ValueAsync("import string\n[string.ascii_lowercase, 'libc' in globals(), 'kept_buffer' in globals()]");
        Same.Json("""["abcdefghijklmnopqrstuvwxyz",false,false]""", b);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task JsRealmWithoutImport_InteropOff_TakesANewIsolate_AndLeavesNothing()
    {
        // The default options' route into the realm (pyodide_js's constructor): crossing into JavaScript, new isolate.
        const string realm = Security.EscapeAssert.RealmWithoutImport;
        var probe = $"g = {realm}\n[repr(getattr(g, 'evilA', 'absent')), repr(getattr(g.Object.new(), 'evilProtoA', 'absent')), repr(getattr(g.JSON, 'evilA', 'absent'))]";
        await Tenant.CleanAsync();
        var clean = await Tenant.ValueAsync(probe);
        await Tenant.PoisonAsync($"g = {realm}\ng.evilA = 1\ng.Object.prototype.evilProtoA = 1\ng.JSON.evilA = 1");
        await Tenant.ResetAsync(ResetPath.NewIsolate);

        Same.Json(clean, await Tenant.ValueAsync(probe), "the realm after the reset");
    }
}
