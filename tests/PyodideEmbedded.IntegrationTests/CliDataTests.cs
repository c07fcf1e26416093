using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>The data fields of the <c>serve</c> protocol (globals, files, read_files) and <c>run</c>'s data flags.</summary>
public sealed class CliDataTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_GlobalsFilesAndReadFiles_RoundTrip()
    {
        await using var cli = CliProcess.Start("serve");
        var request = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["code"] = "rows = open('/data/in.csv').read().splitlines()[1:]\nopen('/out/total.txt', 'w').write(str(sum(int(r) for r in rows) * factor))\n[big + 1, name]",
            ["globals"] = new Dictionary<string, object> { ["factor"] = 2, ["big"] = JsonDocument.Parse("18446744073709551616").RootElement, ["name"] = "é" },
            ["files"] = new Dictionary<string, string> { ["/data/in.csv"] = Convert.ToBase64String("n\n1\n2\n3\n"u8) },
            ["read_files"] = new List<string> { "/out/total.txt", "/out/missing.txt" },
        });

        var reply = await cli.RequestAsync(request);

        Assert.Equal("[18446744073709551617,\"é\"]", reply.GetProperty("output").GetRawText().Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal("12", Encoding.UTF8.GetString(Convert.FromBase64String(reply.GetProperty("files").GetProperty("/out/total.txt").GetString()!)));
        Assert.Equal("no such file", reply.GetProperty("file_errors").GetProperty("/out/missing.txt").GetString());
        Assert.False(reply.GetProperty("files").TryGetProperty("/out/missing.txt", out _));
    }

    private static readonly (string Request, string Expected)[] s_malformed =
    [
        ("""{"code": "1", "globals": [1, 2]}""", "InvalidRequest: \"globals\" must be an object"),
        ("""{"code": "1", "globals": {"__builtins__": {}}}""", "InvalidRequest: The global name '__builtins__'"),
        ("""{"code": "1", "files": ["/data/x"]}""", "InvalidRequest: \"files\" must be an object"),
        ("""{"code": "1", "files": {"/data/x": "not base64!"}}""", "InvalidRequest: \"files\": the content of '/data/x'"),
        ("""{"code": "1", "files": {"/data/x": 12}}""", "InvalidRequest: \"files\": the content of '/data/x' is not a base64 string"),
        ("""{"code": "1", "files": {"/data/../lib/python3.14/os.py": ""}}""", "InvalidRequest: The sandbox path '/data/../lib/python3.14/os.py'"),
        ("""{"code": "1", "read_files": "/out/x"}""", "InvalidRequest: \"read_files\" must be an array"),
        ("""{"code": "1", "read_files": [1]}""", "InvalidRequest: \"read_files\" must be an array"),
        ("""{"code": "1", "read_files": ["/proc/self/environ"]}""", "InvalidRequest: The sandbox path '/proc/self/environ'"),
    ];

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_MalformedDataFields_AnswerAnErrorEachAndKeepServingWithState()
    {
        await using var cli = CliProcess.Start("serve");
        await cli.RunCodeAsync("kept = 5");

        foreach (var (request, expected) in s_malformed)
        {
            var reply = await cli.RequestAsync(request);

            Assert.StartsWith(expected, reply.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal("InvalidRequest", reply.GetProperty("error_type").GetString());
            Assert.False(reply.TryGetProperty("output", out _), request);
        }

        Assert.Equal(6, (await cli.RunCodeAsync("kept + 1")).GetProperty("output").GetInt32());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_PackagesFlag_InstallsWheelsFromTheFolder()
    {
        var folder = Directory.CreateTempSubdirectory("pe-cli-packages-");
        try
        {
            TestWheels.WriteManifest(folder.FullName, TestWheels.WriteGreet(folder.FullName));
            await using var cli = CliProcess.Start("serve", "--packages", folder.FullName, "--install", "greet");

            var reply = await cli.RunCodeAsync("import greet\ngreet.hello('CLI')");

            Assert.Equal("Hello, CLI!", reply.GetProperty("output").GetString());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Run_FileAndReadFlags_MoveHostFilesInAndOut()
    {
        var folder = Directory.CreateTempSubdirectory("pe-cli-run-");
        try
        {
            var input = Path.Combine(folder.FullName, "in.txt");
            var output = Path.Combine(folder.FullName, "out.txt");
            await File.WriteAllTextAsync(input, "abc");

            var (exitCode, stdout, stderr) = await CliProcess.RunToEndAsync("run", "--json",
                "--globals", """{"suffix": "!"}""", "--file", $"/data/in.txt={input}", "--read", $"/out/up.txt={output}", "--read", "/out/none.txt",
                "open('/out/up.txt', 'w').write(open('/data/in.txt').read().upper() + suffix)");

            Assert.Equal(0, exitCode);
            Assert.Equal("ABC!", await File.ReadAllTextAsync(output));
            using var json = JsonDocument.Parse(stdout);
            Assert.Equal("ABC!", Encoding.UTF8.GetString(Convert.FromBase64String(json.RootElement.GetProperty("files").GetProperty("/out/up.txt").GetString()!)));
            Assert.Equal("no such file", json.RootElement.GetProperty("file_errors").GetProperty("/out/none.txt").GetString());
            Assert.Contains("/out/none.txt was not read: no such file", stderr, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("--globals", "[1]")]
    [InlineData("--globals", "{\"__class__\": 1}")]
    [InlineData("--file", "/data/x")]
    [InlineData("--file", "/data/x=/nonexistent/host/file")]
    [InlineData("--file", "/lib/python3.14/os.py=/etc/hostname")]
    public async Task Run_BadDataFlag_ExitsTwo(string flag, string value)
    {
        var (exitCode, _, stderr) = await CliProcess.RunToEndAsync("run", flag, value, "1");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("pyodide-sandbox: ", stderr, StringComparison.Ordinal);
    }
}
