using PyodideEmbedded.Cli;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>
/// What the CLI says about a wrong command line, found in-process on the real command tree without starting
/// a sandbox: unknown options named with suggestions, ranges in the flags' own units, files versus code, and
/// the library's input errors traced back to the flag that caused them. The executable itself is driven by
/// <c>CliUsageTests</c> in the integration tests.
/// </summary>
public sealed class CliUsageFastTests : IDisposable
{
    private readonly CliCommands _cli = new();
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("cli-usage-");

    public void Dispose() => _folder.Delete(recursive: true);

    // ----- unknown, misplaced and mistyped options -----

    [Theory]
    [InlineData("run --timeout 5 1", "Unknown option '--timeout'. Did you mean '--timeout-ms'?")]
    [InlineData("run --timeout=5 1", "Unknown option '--timeout'. Did you mean '--timeout-ms'?")]
    [InlineData("run --jsn 1", "Unknown option '--jsn'. Did you mean '--json'?")]
    [InlineData("run --jsn", "Unknown option '--jsn'. Did you mean '--json'?")]
    [InlineData("run --JSON 1", "Unknown option '--JSON'. Did you mean '--json'?")]
    [InlineData("run --memory 300 1", "Unknown option '--memory'. Did you mean '--memory-mb'?")]
    [InlineData("run --timout-ms 5 1", "Unknown option '--timout-ms'. Did you mean '--timeout-ms'?")]
    [InlineData("run --files /data/x=y 1", "Unknown option '--files'. Did you mean '--file'?")]
    [InlineData("run --max 1 1", "Unknown option '--max'. Did you mean '--max-output-bytes', '--max-code-bytes' or '--max-file-bytes'?")]
    [InlineData("run --verbose 1", "Unknown option '--verbose'.")]
    [InlineData("run 1 --jsn", "Unknown option '--jsn'. Did you mean '--json'?")]
    [InlineData("run --install --jsn 1", "Unknown option '--jsn'. Did you mean '--json'?")]
    [InlineData("serve --timeout 5", "Unknown option '--timeout'. Did you mean '--timeout-ms'?")]
    [InlineData("serve --spare 2", "Unknown option '--spare'. Did you mean '--spares'?")]
    public void Find_UnknownOption_NamesItAndTheClosestKnownOnes(string commandLine, string expected)
    {
        Assert.Equal(expected, Problem(commandLine));
    }

    [Theory]
    [InlineData("serve --json", "Option '--json' belongs to 'run', not to 'serve'.")]
    [InlineData("run --spares 2 1", "Option '--spares' belongs to 'serve', not to 'run'.")]
    [InlineData("--json", "Option '--json' goes after a command: pyodide-sandbox run --json ...")]
    [InlineData("--memory-mb 300 run 1", "Option '--memory-mb' goes after the command: pyodide-sandbox run --memory-mb ...")]
    public void Find_OptionOfAnotherCommandOrBeforeTheCommand_SaysWhereItGoes(string commandLine, string expected)
    {
        Assert.Equal(expected, Problem(commandLine));
    }

    [Fact]
    public void Find_SingleDashWord_IsAnUnknownOptionWithTheWayToRunItAsCode()
    {
        Assert.Equal(
            "Unknown option '-x'. (Code that starts with '-' goes after '--': pyodide-sandbox run -- '-x'.)",
            Problem("run -x"));
    }

    [Theory]
    [InlineData("", "No command given: use 'pyodide-sandbox run CODE', 'pyodide-sandbox serve' or 'pyodide-sandbox mcp'.")]
    [InlineData("rn 1", "Unknown command 'rn'; the commands are 'serve', 'run', 'mcp' or 'prepare'. Did you mean 'run'?")]
    [InlineData("run", "'run' needs its CODE argument: Python code, a .py file, or - to read stdin.")]
    [InlineData("run 1 2", "Unexpected argument '2': 'run' takes the code as one argument; quote it (for example pyodide-sandbox run 'x = 1; x + 1').")]
    [InlineData("serve now", "Unexpected argument 'now': 'serve' takes no arguments.")]
    [InlineData("run --memory-mb abc 1", "--memory-mb expects a whole number, not 'abc'.")]
    [InlineData("serve --spares two", "--spares expects a whole number, not 'two'.")]
    public void Find_OtherParseErrors_AreSaidInTheCommandsTerms(string commandLine, string expected)
    {
        Assert.Equal(expected, Problem(commandLine));
    }

    [Theory]
    [InlineData("run 1")]
    [InlineData("run -1")]
    [InlineData("run -- -x")]
    [InlineData("run -- --json")]
    [InlineData("run 4/2")]
    [InlineData("run --memory-mb -5 1")]
    [InlineData("run --json --timeout-ms 300 --read /out/a -")]
    [InlineData("run --help")]
    [InlineData("run --jsn --help")]
    [InlineData("serve --spares 0 --max-file-bytes 0")]
    [InlineData("--help")]
    public void Find_ValidCommandLineOrHelp_FindsNothing(string commandLine)
    {
        Assert.Null(Problem(commandLine));
    }

    [Fact]
    public void Hint_AfterAParseProblem_PointsAtTheCommandsHelp()
    {
        Assert.Equal("Run 'pyodide-sandbox run --help' for usage.", UsageErrors.Hint(_cli.Root.Parse(["run", "--jsn"])));
        Assert.Equal("Run 'pyodide-sandbox --help' for usage.", UsageErrors.Hint(_cli.Root.Parse(["rn"])));
    }

    [Theory]
    [InlineData("", "", 0)]
    [InlineData("json", "jsn", 1)]
    [InlineData("timeout-ms", "timout-ms", 1)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("abc", "", 3)]
    public void Distance_KnownPairs_CountsTheEdits(string a, string b, int expected)
    {
        Assert.Equal(expected, UsageErrors.Distance(a, b));
        Assert.Equal(expected, UsageErrors.Distance(b, a));
    }

    // ----- the flags' own units -----

    [Theory]
    [InlineData("--memory-mb", "-5", "--memory-mb must be between 64 and 4096 MiB; got -5.")]
    [InlineData("--memory-mb", "5000", "--memory-mb must be between 64 and 4096 MiB; got 5000.")]
    [InlineData("--memory-mb", "99999999999999", "--memory-mb must be between 64 and 4096 MiB; got 99999999999999.")]
    [InlineData("--js-heap-mb", "1", "--js-heap-mb must be between 64 and 4096 MiB; got 1.")]
    [InlineData("--timeout-ms", "0", "--timeout-ms must be between 1 and 86400000 ms; got 0.")]
    [InlineData("--timeout-ms", "86400001", "--timeout-ms must be between 1 and 86400000 ms; got 86400001.")]
    [InlineData("--max-output-bytes", "5", "--max-output-bytes must be between 1024 and 268435456 bytes; got 5.")]
    [InlineData("--max-code-bytes", "99999999999", "--max-code-bytes must be between 1024 and 67108864 bytes; got 99999999999.")]
    [InlineData("--max-file-bytes", "-1", "--max-file-bytes must be between 0 and 268435456 bytes (at most the smaller of --memory-mb and --js-heap-mb); got -1.")]
    public void CreatePool_LimitOutOfRange_NamesTheFlagAndItsRangeInItsUnit(string flag, string value, string expected)
    {
        var pool = _cli.CreatePool(_cli.Root.Parse(["run", flag, value, "1"]), 0, 1, out var problem);

        Assert.Null(pool);
        Assert.Equal(expected, problem);
    }

    [Fact]
    public void CreatePool_FileCapOverASmallerMemoryLimit_GivesTheRangeThatLimitLeaves()
    {
        var pool = _cli.CreatePool(_cli.Root.Parse(["run", "--memory-mb", "128", "--max-file-bytes", "999999999", "1"]), 0, 1, out var problem);

        Assert.Null(pool);
        Assert.Equal("--max-file-bytes must be between 0 and 134217728 bytes (at most the smaller of --memory-mb and --js-heap-mb); got 999999999.", problem);
    }

    [Fact]
    public void CreatePool_BadPackageName_NamesInstall()
    {
        var pool = _cli.CreatePool(_cli.Root.Parse(["run", "--packages", _folder.FullName, "--install", "no such", "1"]), 0, 1, out var problem);

        Assert.Null(pool);
        Assert.StartsWith("--install: 'no such' is not a package name", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrepareRunAsync_InstallWithoutPackages_NamesBothFlags()
    {
        var (_, _, problem) = await Prepare("run", "--install", "stats_helpers", "1");

        Assert.Equal("--install stats_helpers needs --packages DIR, the folder of wheels to install from.", problem);
    }

    // ----- code, file or stdin -----

    [Theory]
    [InlineData("missing.py", true)]
    [InlineData("./missing", true)]
    [InlineData("../x/y.py", true)]
    [InlineData("/tmp/x", true)]
    [InlineData("~/x.py", true)]
    [InlineData("scripts/job_1.py", true)]
    [InlineData("4/2", false)]
    [InlineData("a/b", false)]
    [InlineData("print(1/3)", false)]
    [InlineData("x = 'a.py'", false)]
    [InlineData("open('/data/x.py').read()", false)]
    [InlineData("1 / 2", false)]
    [InlineData("...", false)]
    [InlineData("~5", false)]
    [InlineData("-", false)]
    [InlineData("x.py + 1", false)]
    public void LooksLikePath_AmbiguousWords_FollowsTheDocumentedRule(string word, bool expected)
    {
        Assert.Equal(expected, CodeSource.LooksLikePath(word));
    }

    [Theory]
    [InlineData("missing.py")]
    [InlineData("./missing.py")]
    [InlineData("./no/such/dir/job")]
    public async Task ReadAsync_MissingFile_IsAProblemNamingThePath(string word)
    {
        var (code, problem) = await CodeSource.ReadAsync(word, TextReader.Null, CancellationToken.None);

        Assert.Null(code);
        Assert.StartsWith($"No such file: '{word}' (in ", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("4/2")]
    [InlineData("print(1/3)")]
    [InlineData("x = 1; x + 1")]
    public async Task ReadAsync_CodeWithSlashesOrSpaces_IsCode(string word)
    {
        var (code, problem) = await CodeSource.ReadAsync(word, TextReader.Null, CancellationToken.None);

        Assert.Null(problem);
        Assert.Equal(word, code);
    }

    [Fact]
    public async Task ReadAsync_ExistingFiles_AreReadEvenWithSpacesInTheName()
    {
        var plain = Path.Combine(_folder.FullName, "job.py");
        var spaced = Path.Combine(_folder.FullName, "my job.py");
        var noSuffix = Path.Combine(_folder.FullName, "job");
        await File.WriteAllTextAsync(plain, "1 + 1");
        await File.WriteAllTextAsync(spaced, "2 + 2");
        await File.WriteAllTextAsync(noSuffix, "3 + 3");

        Assert.Equal(("1 + 1", (string?)null), await CodeSource.ReadAsync(plain, TextReader.Null, CancellationToken.None));
        Assert.Equal(("2 + 2", (string?)null), await CodeSource.ReadAsync(spaced, TextReader.Null, CancellationToken.None));
        Assert.Equal(("3 + 3", (string?)null), await CodeSource.ReadAsync(noSuffix, TextReader.Null, CancellationToken.None));
    }

    [Fact]
    public async Task ReadAsync_Folder_IsAProblemNamingIt()
    {
        var (code, problem) = await CodeSource.ReadAsync(_folder.FullName, TextReader.Null, CancellationToken.None);

        Assert.Null(code);
        Assert.Equal($"'{_folder.FullName}' is a folder, not a file of Python code.", problem);
    }

    [Fact]
    public async Task ReadAsync_Dash_ReadsStdin()
    {
        var (code, problem) = await CodeSource.ReadAsync("-", new StringReader("6 * 7"), CancellationToken.None);

        Assert.Null(problem);
        Assert.Equal("6 * 7", code);
    }

    // ----- data flags -----

    [Fact]
    public async Task PrepareRunAsync_ReadWithoutHostFileInPlainMode_IsRefused()
    {
        var (_, _, problem) = await Prepare("run", "--read", "/out/x", "1");

        Assert.Equal("--read /out/x needs =HOST_FILE, the file to save it to (or use --json, whose output holds the file).", problem);
    }

    [Fact]
    public async Task PrepareRunAsync_ReadWithoutHostFileWithJson_IsAccepted()
    {
        var (code, inputs, problem) = await Prepare("run", "--json", "--read", "/out/x", "1");

        Assert.Null(problem);
        Assert.Equal("1", code);
        Assert.Equal(["/out/x"], inputs!.ReadFiles!);
    }

    [Fact]
    public async Task PrepareRunAsync_ReadIntoAMissingFolder_NamesTheFolder()
    {
        var target = Path.Combine(_folder.FullName, "nope", "x.bin");

        var (_, _, problem) = await Prepare("run", "--read", $"/out/x={target}", "1");

        Assert.Equal($"--read /out/x={target}: the folder '{Path.Combine(_folder.FullName, "nope")}' does not exist.", problem);
    }

    [Fact]
    public async Task PrepareRunAsync_FileFromAMissingHostFile_NamesTheFlagAndPath()
    {
        var missing = Path.Combine(_folder.FullName, "missing.csv");

        var (_, _, problem) = await Prepare("run", "--file", $"/data/in.csv={missing}", "1");

        Assert.StartsWith($"--file /data/in.csv={missing}: ", problem, StringComparison.Ordinal);
        Assert.Contains(missing, problem![(missing.Length + 20)..], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--file", "/lib/python3.14/os.py", "--file /lib/python3.14/os.py=HOST: The sandbox path '/lib/python3.14/os.py' is outside the folders the host may use (/data, /out, /tmp, /home/pyodide).")]
    [InlineData("--read", "/data/../etc/x", "--read /data/../etc/x=HOST: The sandbox path '/data/../etc/x' is not normalized (no empty, '.' or '..' components, no trailing '/').")]
    [InlineData("--read", "/out", "--read /out=HOST: The sandbox path '/out' is one of the host's folders itself: name a file in it.")]
    public async Task RunAsync_RefusedSandboxPath_IsExplainedWithItsFlagBeforeAnySandboxStarts(string flag, string sandboxPath, string expected)
    {
        var host = Path.Combine(_folder.FullName, "host.bin");
        await File.WriteAllTextAsync(host, "data");
        var parse = _cli.Root.Parse(["run", flag, $"{sandboxPath}={host}", "--assets", Path.Combine(_folder.FullName, "no-assets"), "1"]);
        var (code, inputs, problem) = await _cli.PrepareRunAsync(parse, TextReader.Null, CancellationToken.None);
        Assert.Null(problem);
        await using var pool = _cli.CreatePool(parse, 0, 1, out problem)!;

        // No asset folder: a start would throw SandboxAssetException, so this is refused before any start.
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() => pool.RunAsync(code, inputs));

        Assert.Equal(expected.Replace("HOST", host, StringComparison.Ordinal), _cli.Explain(e, parse));
    }

    [Fact]
    public async Task RunAsync_RefusedGlobalName_IsExplainedAsGlobals()
    {
        var parse = _cli.Root.Parse(["run", "--globals", """{"__class__": 1}""", "--assets", Path.Combine(_folder.FullName, "no-assets"), "1"]);
        var (code, inputs, problem) = await _cli.PrepareRunAsync(parse, TextReader.Null, CancellationToken.None);
        Assert.Null(problem);
        await using var pool = _cli.CreatePool(parse, 0, 1, out problem)!;

        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() => pool.RunAsync(code, inputs));

        Assert.Equal(
            "--globals: The global name '__class__' is not allowed: use an ASCII Python identifier that is not a keyword and does not start with '__'.",
            _cli.Explain(e, parse));
    }

    // ----- the asset folder -----

    [Fact]
    public void AssetStoreLoadUncached_MissingFolder_NamesThePath()
    {
        var missing = Path.Combine(_folder.FullName, "pyodide-dist");

        var e = Assert.Throws<SandboxAssetException>(() => AssetStore.LoadUncached(missing));

        Assert.Equal($"The Pyodide asset folder '{missing}' does not exist.", e.Message);
        Assert.Equal(missing, e.FilePath);
    }

    private string? Problem(string commandLine) =>
        UsageErrors.Find(_cli.Root.Parse(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    private Task<(string Code, RunInputs? Inputs, string? Problem)> Prepare(params string[] args) =>
        _cli.PrepareRunAsync(_cli.Root.Parse(args), TextReader.Null, CancellationToken.None);
}
