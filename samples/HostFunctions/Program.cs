using PyodideEmbedded;

// The functions Python may call: nothing else of the host is reachable. Async is fine; a CancellationToken
// parameter is cancelled when the run's time limit passes.
var functions = new SandboxFunctions()
    .Add("get_weather", async (string city, CancellationToken cancellationToken) =>
    {
        await Task.Delay(10, cancellationToken);   // a real service call here
        return city == "Atlantis" ? throw new SandboxFunctionException($"no weather for {city}") : new Weather(city, "Sunny", 21.5);
    }, "The weather now in a city.")
    .Add("add", (long a, long b) => a + b, "Adds two integers.");

await using var sandbox = await PythonSandbox.CreateAsync(new SandboxOptions { Functions = functions });

var result = await sandbox.RunAsync("""
    from host import get_weather, add, HostFunctionError
    report = get_weather('Oslo')            # a dict: {'city': 'Oslo', 'summary': 'Sunny', 'temperature_c': 21.5}
    try:
        get_weather('Atlantis')
    except HostFunctionError as e:
        print(e)                            # no weather for Atlantis
    add(2, 3) + len(report['summary'])
    """);
Console.Write(result.Stdout);      // no weather for Atlantis
Console.WriteLine(result.Value);   // 10

internal sealed record Weather(string City, string Summary, double TemperatureC);
