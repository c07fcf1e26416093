using System.Diagnostics;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>Several sandboxes, asset verification at start, and the seed's Python client against the CLI.</summary>
public sealed class SandboxLifetimeTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task TwoSandboxes_RunInParallel_EachWithItsOwnState()
    {
        var sandboxes = await Task.WhenAll(PythonSandbox.CreateAsync(TestOptions.Default), PythonSandbox.CreateAsync(TestOptions.Default));
        try
        {
            await Task.WhenAll(sandboxes[0].RunAsync("owner = 'first'"), sandboxes[1].RunAsync("owner = 'second'"));

            // Both spin at once; if they shared a thread or an isolate this would take twice as long or mix state.
            var results = await Task.WhenAll(sandboxes.Select(s => s.RunAsync("sum(i * i for i in range(300_000))\nowner")));

            Assert.Equal("first", results[0].Value!.Value.GetString());
            Assert.Equal("second", results[1].Value!.Value.GetString());
        }
        finally
        {
            foreach (var sandbox in sandboxes)
            {
                await sandbox.DisposeAsync();
            }
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CreateAsync_TamperedAsset_ThrowsNamingTheFile()
    {
        var folder = Directory.CreateTempSubdirectory("pe-tampered-");
        try
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "pyodide-dist")))
            {
                File.Copy(file, Path.Combine(folder.FullName, Path.GetFileName(file)));
            }

            File.AppendAllText(Path.Combine(folder.FullName, "pyodide.asm.mjs"), "\nglobalThis.pwned = 1;");

            var e = await Assert.ThrowsAsync<SandboxAssetException>(() => PythonSandbox.CreateAsync(TestOptions.Default with { AssetsPath = folder.FullName }));

            Assert.EndsWith("pyodide.asm.mjs", e.FilePath, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CreateAsync_Cancelled_ThrowsOperationCanceled()
    {
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => PythonSandbox.CreateAsync(TestOptions.Default, cancel.Token));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Dispose_Twice_IsHarmless()
    {
        var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        sandbox.Dispose();
        await sandbox.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => sandbox.RunAsync("1"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_SeedPythonClient_WorksUnchanged()
    {
        // The shape of the client that drove the Deno runner: spawn once, write a line, read a line.
        const string client = """
            import json, subprocess, sys
            proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            def execute(code):
                proc.stdin.write(json.dumps({"code": code}) + "\n")
                proc.stdin.flush()
                return json.loads(proc.stdout.readline())
            print(execute("4 + 5")["output"])
            print(execute("1/0")["error"])
            proc.stdin.write(json.dumps({"shutdown": True}) + "\n")
            proc.stdin.flush()
            print(proc.wait())
            """;
        var script = Path.Combine(Path.GetTempPath(), $"pe-client-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(script, client);
        try
        {
            var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in new[] { script, "dotnet", CliProcess.Dll, "serve" })
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();

            Assert.Equal("9\nZeroDivisionError: division by zero\n0\n", output);
        }
        finally
        {
            File.Delete(script);
        }
    }
}
