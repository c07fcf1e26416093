namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// Usage errors of the real <c>pyodide-sandbox</c> executable: exit 2, the message on stderr naming the flag or
/// path at fault, nothing on stdout, and no sandbox started (an asset folder that does not exist would exit 3).
/// </summary>
public sealed class CliUsageTests
{
    private static readonly string s_noAssets = Path.Combine(Path.GetTempPath(), "pyodide-sandbox-no-such-assets");

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("--timeout", "'--timeout-ms'", "run", "--timeout", "5", "1")]
    [InlineData("--jsn", "'--json'", "run", "--jsn", "1")]
    [InlineData("--jsn", "'--json'", "run", "--jsn")]
    [InlineData("--timeout", "'--timeout-ms'", "serve", "--timeout", "5")]
    public async Task Run_UnknownOption_ExitsTwoNamingItAndTheClosestOption(string unknown, string suggestion, params string[] args)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith($"pyodide-sandbox: Unknown option '{unknown}'. Did you mean {suggestion}?", stderr, StringComparison.Ordinal);
        Assert.Contains($"Run 'pyodide-sandbox {args[0]} --help' for usage.", stderr, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("run")]
    [InlineData("run", "1", "2")]
    [InlineData("run", "--memory-mb", "abc", "1")]
    [InlineData("rn", "1")]
    [InlineData]
    public async Task Run_ParseError_ExitsTwoWithTheMessageOnStderrAndNoHelpOnStdout(params string[] args)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith("pyodide-sandbox: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Usage:", stderr, StringComparison.Ordinal);
        Assert.Equal(2, stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_Help_ExitsZeroWithHelpOnStdout()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("--timeout-ms", stdout, StringComparison.Ordinal);
        // The help wraps its lines: compare the words.
        var words = string.Join(' ', stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ends in .py or starts with ./ ../ / or ~/ is a file", words, StringComparison.Ordinal);
        Assert.Equal("", stderr.Trim());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("--memory-mb", "-5", "--memory-mb must be between 64 and 4096 MiB; got -5.")]
    [InlineData("--js-heap-mb", "8192", "--js-heap-mb must be between 64 and 4096 MiB; got 8192.")]
    [InlineData("--timeout-ms", "0", "--timeout-ms must be between 1 and 86400000 ms; got 0.")]
    [InlineData("--max-output-bytes", "10", "--max-output-bytes must be between 1024 and 268435456 bytes; got 10.")]
    [InlineData("--max-code-bytes", "0", "--max-code-bytes must be between 1024 and 67108864 bytes; got 0.")]
    [InlineData("--max-file-bytes", "-1", "--max-file-bytes must be between 0 and 268435456 bytes (at most the smaller of --memory-mb and --js-heap-mb); got -1.")]
    public async Task Run_LimitOutOfRange_ExitsTwoNamingTheFlagAndItsRangeInItsUnit(string flag, string value, string expected)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--assets", s_noAssets, flag, value, "1");

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"pyodide-sandbox: {expected}", stderr.Trim());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("-1", "--spares must be between 0 and 16; got -1.")]
    [InlineData("17", "--spares must be between 0 and 16; got 17.")]
    public async Task Serve_SparesOutOfRange_ExitsTwoNamingTheFlag(string value, string expected)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("serve", "--spares", value);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"pyodide-sandbox: {expected}", stderr.Trim());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_LimitOutOfRange_ExitsTwoBeforeAnySandboxStarts()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("serve", "--assets", s_noAssets, "--memory-mb", "1");

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal("pyodide-sandbox: --memory-mb must be between 64 and 4096 MiB; got 1.", stderr.Trim());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("missing.py")]
    [InlineData("./missing.py")]
    [InlineData("./missing")]
    [InlineData("/no/such/dir/job.py")]
    public async Task Run_MissingFile_ExitsTwoNamingThePath(string path)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--assets", s_noAssets, path);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith($"pyodide-sandbox: No such file: '{path}'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Error", stderr, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("4/2", "2.0\n")]
    [InlineData("print(1/3)", "0.3333333333333333\n")]
    [InlineData("a = 6; b = 3; a/b", "2.0\n")]
    public async Task Run_CodeWithSlashes_RunsAsCode(string code, string expected)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", code);

        Assert.True(exitCode == 0, stderr);
        Assert.Equal(expected, stdout);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_ExistingFile_RunsItsCode()
    {
        var folder = Directory.CreateTempSubdirectory();
        try
        {
            var file = Path.Combine(folder.FullName, "job.py");
            await File.WriteAllTextAsync(file, "print('from the file')\n6 * 7");

            var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", file);

            Assert.True(exitCode == 0, stderr);
            Assert.Equal("from the file\n42\n", stdout);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("--file", "/lib/python3.14/os.py", "The sandbox path '/lib/python3.14/os.py' is outside the folders the host may use")]
    [InlineData("--read", "/proc/self/environ", "The sandbox path '/proc/self/environ' is outside the folders the host may use")]
    [InlineData("--read", "/out/../etc/passwd", "The sandbox path '/out/../etc/passwd' is not normalized")]
    public async Task Run_RefusedSandboxPath_ExitsTwoNamingTheFlagBeforeAnySandboxStarts(string flag, string sandboxPath, string reason)
    {
        var folder = Directory.CreateTempSubdirectory();
        try
        {
            var host = Path.Combine(folder.FullName, "host.txt");
            await File.WriteAllTextAsync(host, "data");

            var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--assets", s_noAssets, flag, $"{sandboxPath}={host}", "1");

            Assert.Equal(2, exitCode);
            Assert.Equal("", stdout);
            Assert.StartsWith($"pyodide-sandbox: {flag} {sandboxPath}={host}: {reason}", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("(Parameter", stderr, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_ReadWithoutHostFileInPlainMode_ExitsTwo()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--assets", s_noAssets, "--read", "/out/x", "1");

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal("pyodide-sandbox: --read /out/x needs =HOST_FILE, the file to save it to (or use --json, whose output holds the file).", stderr.Trim());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_ReadWithoutHostFileWithJson_PutsTheFileInTheJson()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--json", "--read", "/out/x", "open('/out/x', 'w').write('hi')");

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("\"files\":{\"/out/x\":\"aGk=\"}", stdout, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_MissingAssetFolder_ExitsThreeNamingThePath()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--assets", s_noAssets, "1");

        Assert.Equal(3, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"pyodide-sandbox: The Pyodide asset folder '{s_noAssets}' does not exist.", stderr.Trim());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_MissingPackagesFolder_ExitsThreeNamingThePath()
    {
        var missing = Path.Combine(Path.GetTempPath(), "pyodide-sandbox-no-such-packages");

        var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--packages", missing, "--install", "stats_helpers", "1");

        Assert.Equal(3, exitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith($"pyodide-sandbox: {missing}", stderr, StringComparison.Ordinal);
    }
}
