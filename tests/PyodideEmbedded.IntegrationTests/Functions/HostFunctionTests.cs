using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PyodideEmbedded.IntegrationTests.Functions;

/// <summary>Python calling the .NET functions the host granted: values, signatures, failures, sizes.</summary>
[Collection(nameof(HostFunctionsCollection))]
public sealed class HostFunctionTests(HostFunctionsSandbox fixture)
{
    private readonly PythonSandbox _sandbox = fixture.Sandbox;

    private async Task<JsonElement> ValueAsync(string code)
    {
        var result = await _sandbox.RunAsync(code);
        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.False(result.ValueIsRepr, result.Value?.ToString());
        return result.Value!.Value;
    }

    private static void AssertJson(string expected, JsonElement actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual.GetRawText())), $"expected {expected}\nactual   {actual.GetRawText()}");

    private async Task<PythonError> ErrorAsync(string code)
    {
        var result = await _sandbox.RunAsync(code);
        Assert.False(result.Succeeded, result.Value?.ToString());
        return result.Error!;
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_SyncAndAsyncFunctions_ReturnTheirValuesAsJson()
    {
        var value = await ValueAsync("from host import add, get_weather, nothing\n[add(2, 3), get_weather('Oslo'), nothing()]");

        AssertJson("""[5,{"city":"Oslo","summary":"Sunny","temperature_c":21.5},null]""", value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_BigIntegersAndNestedJson_CrossExactly()
    {
        var value = await ValueAsync("import host\n[host.double_big(2**100 + 1) == 2**101 + 2, host.echo({'a': [1, 2.5, None, True, 'é', 2**70]})]");

        AssertJson("""[true,{"a":[1,2.5,null,true,"é",1180591620717411303424]}]""", value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Function_HasTheDotNetSignatureAndDescription()
    {
        var value = await ValueAsync("""
            import inspect, host
            [str(inspect.signature(host.add)), host.add.__doc__, str(inspect.signature(host.greet)),
             str(inspect.signature(host.get_weather)), host.get_weather.__doc__, host.add.__module__]
            """);

        AssertJson(
            """["(a: int, b: int) -> int","Adds two integers.","(name: str, greeting: str = 'Hello') -> str","(city: str) -> dict","The weather now in a city.\n\nArgs:\n    city: The city's name.","host"]""",
            value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_DefaultsAndKeywords_AreTheDotNetOnes()
    {
        var value = await ValueAsync("from host import greet\n[greet('Ann'), greet('Bo', greeting='Hi'), greet(greeting='Hey', name='Cy')]");

        AssertJson("""["Hello, Ann!","Hi, Bo!","Hey, Cy!"]""", value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Aio_FromAsyncCode_IsAwaitable()
    {
        var value = await ValueAsync("""
            import asyncio, host
            async def main():
                return await asyncio.gather(host.add.aio(1, 2), host.get_weather.aio('Rome'))
            await main()
            """);

        Assert.Equal(3, value[0].GetInt64());
        Assert.Equal("Rome", value[1].GetProperty("city").GetString());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Throwing_AnyException_IsAGenericHostFunctionErrorThatPythonCanCatch()
    {
        var value = await ValueAsync("""
            import host
            out = []
            for f in (host.fail, host.fail_async):
                try:
                    f()
                except host.HostFunctionError as e:
                    out.append(str(e))
            out
            """);

        AssertJson("""["the host function fail() failed","the host function fail_async() failed"]""", value);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Throwing_Uncaught_LeaksNoDotNetDetail()
    {
        var error = await ErrorAsync("import host\nhost.fail()");

        Assert.Equal("HostFunctionError", error.TypeName);
        foreach (var leak in new[] { "InvalidOperation", "System.", "secret", "/srv", "   at ", "Exception" })
        {
            Assert.DoesNotContain(leak, error.Traceback, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Throwing_SandboxFunctionException_PassesItsMessage()
    {
        var error = await ErrorAsync("import host\nhost.refuse('Atlantis')");

        Assert.Equal("HostFunctionError", error.TypeName);
        Assert.Equal("no weather for Atlantis", error.Message);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("host.add('x', 1)", "add() argument 'a' must be an int")]
    [InlineData("host.add(1.5, 1)", "add() argument 'a' must be an int")]
    [InlineData("host.add(1)", "missing a required argument: 'b'")]
    [InlineData("host.add(1, 2, c=3)", "got an unexpected keyword argument 'c'")]
    [InlineData("host.add({1, 2}, 1)", "add() arguments must be JSON values")]
    [InlineData("host.add(float('nan'), 1)", "add() arguments must be JSON values")]
    [InlineData("host.echo({1: 'int key'})", "echo() arguments must be JSON values")]
    [InlineData("host.repeat('x', 2**40)", "repeat() argument 'times' must be an int")]
    public async Task Call_WrongArguments_RaiseTypeError(string call, string message)
    {
        var error = await ErrorAsync("import host\n" + call);

        Assert.Equal("TypeError", error.TypeName);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_HugeArgument_IsRefusedBeforeTheFunctionRuns()
    {
        var error = await ErrorAsync("import host\nhost.echo('x' * (2 * 1024 * 1024))");

        Assert.Equal("TypeError", error.TypeName);
        Assert.Contains($"larger than {_sandbox.Options.MaxOutputBytes} bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_HugeResult_RaisesInsteadOfCrossing()
    {
        var value = await ValueAsync("""
            import host
            try:
                host.repeat('x', 2 * 1024 * 1024)
            except host.HostFunctionError as e:
                r = str(e)
            [r, host.add(1, 1)]
            """);

        AssertJson($"""["the result of repeat() is larger than {_sandbox.Options.MaxOutputBytes} bytes of JSON",2]""", value);
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData(80, "nested more than 64 deep")]
    [InlineData(100_000, "arguments must be JSON values")]
    public async Task Call_DeepNesting_RaisesTypeError(int depth, string message)
    {
        var error = await ErrorAsync($"import host\nv = []\nfor _ in range({depth}): v = [v]\nhost.echo(v)");

        Assert.Equal("TypeError", error.TypeName);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Calls_PastThePerRunCap_Raise_AndTheNextRunHasItsOwnCount()
    {
        const string code = """
            import host
            n = 0
            try:
                while True:
                    host.add(n, 1)
                    n += 1
            except host.HostFunctionError as e:
                r = [n, str(e)]
            r
            """;
        var expected = $"""[{HostFunctionsSandbox.MaxCalls},"this run made more than {HostFunctionsSandbox.MaxCalls} host function calls"]""";

        AssertJson(expected, (await ValueAsync(code)));
        AssertJson(expected, (await ValueAsync(code)));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_FromATimerLeftByAnEarlierRun_NeverRunsBetweenRuns_OnlyInALaterRunsLimits()
    {
        // asyncio's call_later is a timer in the realm, which the host drives only while a run awaits.
        await ValueAsync("""
            import asyncio, host
            timer_results = []
            asyncio.get_event_loop().call_later(0.01, lambda: timer_results.append(host.add(20, 22)))
            1
            """);
        await Task.Delay(200);

        AssertJson("[]", await ValueAsync("timer_results"));
        AssertJson("[42]", await ValueAsync("import asyncio\nawait asyncio.sleep(0.05)\ntimer_results"));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_FromAHostFunctionOfTheSameSandbox_IsRefused()
    {
        var value = await ValueAsync("import host\nhost.run_in_same_sandbox()");

        Assert.Equal("done", value.GetString());
        Assert.Equal(nameof(InvalidOperationException), await fixture.ReentryOutcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Help_ListsTheFunctions()
    {
        var result = await _sandbox.RunAsync("import host\nhelp(host.get_weather)\nsorted(host.__all__)");

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.Contains("get_weather(city: str) -> dict", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("add", result.Value!.Value.GetRawText(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Call_RoundTrip_IsFastEnoughToCallInALoop()
    {
        var clock = Stopwatch.StartNew();
        var value = await ValueAsync("import host\ns = 0\nfor i in range(40): s = host.add(s, i)\ns");

        Assert.Equal(780, value.GetInt64());
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }
}
