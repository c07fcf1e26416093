using System.ComponentModel;
using Microsoft.Extensions.AI;

namespace PyodideEmbedded.IntegrationTests.Functions;

/// <summary>An agent's Microsoft.Extensions.AI tools, granted to model-written Python.</summary>
public sealed class AIFunctionTests
{
    [Description("Looks up a city's population.")]
    private static long Population([Description("The city's name.")] string city, bool metro = false) =>
        city == "Oslo" ? (metro ? 1_588_000 : 717_710) : throw new SandboxFunctionException($"unknown city {city}");

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AIFunction_IsCallableFromPython_WithItsSchemaAsSignature()
    {
        var tool = AIFunctionFactory.Create(Population, "get-population");
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default with { Functions = new SandboxFunctions().Add(tool) });

        var result = await sandbox.RunAsync("""
            import inspect, host
            try:
                host.get_population('Atlantis')
            except host.HostFunctionError as e:
                refused = str(e)
            [host.get_population('Oslo'), host.get_population(city='Oslo', metro=True), refused,
             str(inspect.signature(host.get_population)), host.get_population.__doc__.splitlines()[0]]
            """);

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.Equal(
            """[717710, 1588000, "unknown city Atlantis", "(city: str, metro: bool = False)", "Looks up a city's population."]""",
            result.Value!.Value.GetRawText());
    }
}
