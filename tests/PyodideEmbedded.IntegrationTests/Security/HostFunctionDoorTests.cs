using System.Text;
using PyodideEmbedded.IntegrationTests.Functions;
using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>One sandbox with JS interop on and host functions granted: the most reach hostile code can have at the door.</summary>
public sealed class InteropFunctionsFixture : IAsyncLifetime
{
    public PythonSandbox Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() => Sandbox = await PythonSandbox.CreateAsync(Interop with { Functions = HostFunctionsSandbox.Functions(null) });

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

/// <summary>
/// Attacks on the host-function door (SECURITY.md, "Host functions"): code may call the JS function that Python's
/// <c>host</c> module uses, but must reach no host object through it, forge no call the host did not grant, and call
/// nothing outside a run.
/// </summary>
public sealed class HostFunctionDoorTests(InteropFunctionsFixture fixture) : IClassFixture<InteropFunctionsFixture>
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    // The JS door, as hostile Python finds it: in the closure of a host function.
    private const string FindDoor = """
        import host
        door = next(c.cell_contents for c in host.add.__closure__ if type(c.cell_contents).__name__.startswith('Js'))

        """;

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Door_IsAPlainJsFunction_WithNothingOfTheHostOnIt()
    {
        var value = await RunJsonAsync(_sandbox, FindDoor + """
            import js, json
            probe = js.eval('''(door) => {
              const out = { own: Reflect.ownKeys(door).map(String), global: typeof globalThis.functions,
                            proto: Object.getPrototypeOf(door) === Function.prototype };
              for (const p of ['caller', 'arguments']) { try { out[p] = typeof door[p]; } catch (e) { out[p] = 'refused'; } }
              return JSON.stringify(out);
            }''')
            probe(door)
            """);

        Assert.Equal("""["length","name"]""", value.GetProperty("own").GetRawText().Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal("undefined", value.GetProperty("global").GetString());
        Assert.True(value.GetProperty("proto").GetBoolean());
        Assert.Equal("refused", value.GetProperty("caller").GetString());
        Assert.Equal("refused", value.GetProperty("arguments").GetString());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("door('not_granted', '{}')", "no such host function")]
    [InlineData("door('GetType', '{}')", "no such host function")]
    [InlineData("door('Call', '{}')", "no such host function")]
    [InlineData("door('_host_call', '{}')", "no such host function")]
    [InlineData("door('add', js.Object.new())", "a host function takes a name and JSON text")]
    [InlineData("door(js.Object.new(), '{}')", "a host function takes a name and JSON text")]
    [InlineData("door('add', 12)", "a host function takes a name and JSON text")]
    [InlineData("door('add', '[1, 2]')", "arguments are not a JSON object")]
    [InlineData("door('add', '{\"a\": 1, \"b\": 2, \"b\": 3}')", "")]
    [InlineData("door('add', '{\"a\": 1')", "not valid JSON")]
    [InlineData("door('add', '{\"a\": NaN, \"b\": 1}')", "not valid JSON")]
    [InlineData("door('add', '{\"a\": {\"$type\": \"System.IO.File\"}, \"b\": 1}')", "must be an int")]
    [InlineData("door('echo', '{\"value\": ' + '[' * 65 + ']' * 65 + '}')", "nested more than 64 deep")]
    public async Task ForgedCalls_ThroughTheDoor_AreRefusedByTheHost(string call, string expected)
    {
        var value = await RunValueAsync(_sandbox, FindDoor + "import js\nr = " + call + "\nstr(r)");

        Assert.Contains(expected, value.GetString(), StringComparison.Ordinal);
        await AssertStillAnswersAsync(_sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Door_CalledBetweenRuns_FromPatchedFileCode_IsRefused()
    {
        // Run 1 plants a call in the file system code that the host uses to write a run's input files before
        // the next run starts; the door must refuse it there.
        await RunValueAsync(_sandbox, FindDoor + """
            import pyodide_js
            from pyodide.ffi import create_proxy
            between_runs = []
            original_write = pyodide_js.FS.writeFile
            def planted(*args):
                between_runs.append(door('add', '{"a": 1, "b": 2}'))
                return original_write(*args)
            pyodide_js.FS.writeFile = create_proxy(planted)
            1
            """);
        try
        {
            var result = await RunAttackAsync(_sandbox, "between_runs", new RunInputs { Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/in.txt"] = Encoding.UTF8.GetBytes("x") } });

            Assert.True(result.Succeeded, result.Error?.Traceback);
            var calls = result.Value!.Value.EnumerateArray().Select(static c => c.GetString()!).ToList();
            Assert.NotEmpty(calls); // the plant ran: otherwise this test proves nothing
            Assert.All(calls, static c => Assert.Contains("only while the sandbox runs code", c, StringComparison.Ordinal));
        }
        finally
        {
            await RunValueAsync(_sandbox, "import pyodide_js\npyodide_js.FS.writeFile = original_write\n1");
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostFunctionError_CarriesNoHostDetail_EvenWithInterop()
    {
        var result = await RunAttackAsync(_sandbox, "import host\nhost.fail_async()");

        Assert.Equal("HostFunctionError", result.Error?.TypeName);
        AssertNoHostData(result, "host.fail_async()");
        Assert.DoesNotContain("IOException", AllText(result), StringComparison.Ordinal);
        Assert.DoesNotContain("/home/admin", AllText(result), StringComparison.Ordinal);
    }
}

/// <summary>Without <see cref="SandboxOptions.Functions"/> there is no door at all.</summary>
[Collection(SecurityDefaultSandboxDefinition.Name)]
public sealed class NoHostFunctionsTests(SharedSandbox fixture)
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ImportHost_WithoutGrantedFunctions_FailsLikeAnyMissingModule()
    {
        var result = await RunAttackAsync(fixture.Sandbox, "import host");

        Assert.Equal("ModuleNotFoundError", result.Error?.TypeName);
    }
}
