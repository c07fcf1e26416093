using System.Diagnostics;
using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>
/// Issue 13, class 1: nothing but the reply writer reaches the CLI's stdout. V8 prints an exception that
/// escapes a callback it runs outside any call (a FinalizationRegistry cleanup) on the process's stdout,
/// with text the sandbox chose, such as a forged reply line. The realm must not let that happen (the
/// original constructor is out of reach, every cleanup is guarded), and the CLI points fd 1 at stderr.
/// </summary>
public sealed class ReplyStreamTests
{
    private const string Forged = "{\"output\": \"forged\"}";

    // JavaScript run from Python with interop off (through the Function constructor). It makes `count`
    // registries whose cleanups throw a forged line, with every constructor a prototype walk finds,
    // then (when asked) allocates enough garbage for V8 to collect the registered objects.
    private static string ThrowingFinalizers(int count, bool collect) => $$"""
        __import__('sys').modules['pyodide_js'].constructor.constructor(r'''
        const forged = '\n' + {{JsonSerializer.Serialize(Forged)}} + '\n';
        const candidates = [
          FinalizationRegistry,
          Object.getPrototypeOf(FinalizationRegistry),
          FinalizationRegistry.prototype.constructor,
          Object.getPrototypeOf(new FinalizationRegistry(() => {})).constructor,
        ];
        globalThis.keep = globalThis.keep || [];
        let made = 0;
        for (const Registry of candidates) {
          for (let i = 0; i < {{count}}; i++) {
            try {
              const plain = new Registry(() => { throw new Error('boom' + forged); });
              plain.register({ i }, i);
              const nasty = new Registry(() => { throw { toString() { throw new Error(forged); } }; });
              nasty.register({ i }, i);
              keep.push(plain, nasty);
              made++;
            } catch { break; }
          }
        }
        if ({{(collect ? "true" : "false")}}) for (let i = 0; i < 300000; i++) ({ a: new Array(16) });
        return made;
        ''')()
        """;

    private const string Garbage = "__import__('sys').modules['pyodide_js'].constructor.constructor('for (let i = 0; i < 300000; i++) ({ a: new Array(16) }); return 1')()";

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_ThrowingFinalizers_OneFloodDuringBetweenAndAfterReplacement_StreamStaysOneReplyPerRequest()
    {
        await using var server = await CliServer.StartAsync("--timeout-ms", "3000");

        // One, during a run (the garbage is made in the same run).
        await server.SendAsync(ThrowingFinalizers(1, collect: true));
        await server.AssertInStepAsync();
        // A flood.
        await server.SendAsync(ThrowingFinalizers(200, collect: true));
        await server.AssertInStepAsync();
        // Between runs: registered now, collected by the runs that follow.
        await server.SendAsync(ThrowingFinalizers(50, collect: false));
        for (var i = 0; i < 3; i++)
        {
            await server.SendAsync(Garbage);
            await server.AssertInStepAsync();
        }

        // After the sandbox was replaced: registered, then the sandbox is killed by a hard time-out.
        await server.SendAsync(ThrowingFinalizers(50, collect: false));
        var killed = await server.SendAsync("sum(range(10**13))");
        Assert.True(killed.GetProperty("state_lost").GetBoolean());
        for (var i = 0; i < 3; i++)
        {
            await server.SendAsync(Garbage);
            await server.AssertInStepAsync();
        }

        Assert.DoesNotContain("Uncaught", server.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", server.Stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RealmConstructor_PrototypeWalk_FindsOnlyTheGuardedWrapper()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        var value = await EscapeAssert.RunValueAsync(sandbox, """
            __import__('sys').modules['pyodide_js'].constructor.constructor(r'''
            const r = new FinalizationRegistry(() => {});
            return [
              Object.getPrototypeOf(FinalizationRegistry) === Function.prototype,
              FinalizationRegistry.prototype.constructor === FinalizationRegistry,
              Object.getPrototypeOf(r).constructor === FinalizationRegistry,
              r instanceof FinalizationRegistry,
              FinalizationRegistry.name,
            ].join(',');
            ''')()
            """);

        Assert.Equal("true,true,true,true,FinalizationRegistry", value.GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunJson_ThrowingFinalizers_StdoutIsExactlyOneJsonObject()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--json", ThrowingFinalizers(100, collect: true) + "\nprint('{\"output\": 1}')\n" + Garbage);

        Assert.Equal(0, exitCode);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"stdout holds {lines.Length} lines:\n{EscapeAssert.Trim(stdout)}\nstderr:\n{EscapeAssert.Trim(stderr)}");
        using var document = JsonDocument.Parse(lines[0]);
        Assert.Equal(1, document.RootElement.GetProperty("output").GetInt32());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("serve")]
    [InlineData("run")]
    public async Task Cli_FileDescriptorOne_PointsAtStderrWhileItWorks(string command)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // reads /proc (xunit 2 has no dynamic skip); the guard itself is Unix-wide
        }

        await using var cli = command == "serve"
            ? CliProcess.Start("serve")
            : CliProcess.Start("run", "--json", "import time\ntime.sleep(20)");
        if (command == "serve")
        {
            await cli.RunCodeAsync("1"); // started and serving
        }

        // The descriptors are moved before the first sandbox starts; wait for it while the process lives.
        var clock = Stopwatch.StartNew();
        string? stdoutTarget = null, stderrTarget = null;
        while (!cli.HasExited && clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            stdoutTarget = Target(cli.ProcessId, 1);
            stderrTarget = Target(cli.ProcessId, 2);
            if (stdoutTarget is not null && stdoutTarget == stderrTarget)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.False(cli.HasExited, "the CLI exited before it could be inspected: " + cli.Stderr);
        Assert.Equal(stderrTarget, stdoutTarget);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_StdoutIsAFileSharedWithTheShell_ResultLandsInOrder()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // a POSIX shell's shared file offset is the point
        }

        var log = Path.GetTempFileName();
        try
        {
            var script = $"{{ echo a; dotnet '{CliProcess.Dll}' run 12345; echo b; }} > '{log}' 2>/dev/null";
            using var shell = Process.Start(new ProcessStartInfo("bash", ["-c", script]) { UseShellExecute = false })!;
            await shell.WaitForExitAsync();

            // Written at the descriptor's shared offset: after "a", before "b", nothing overwritten.
            Assert.Equal("a\n12345\nb\n", await File.ReadAllTextAsync(log));
        }
        finally
        {
            File.Delete(log);
        }
    }

    private static string? Target(int pid, int fd)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
