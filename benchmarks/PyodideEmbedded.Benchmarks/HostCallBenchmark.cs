using BenchmarkDotNet.Attributes;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// The cost of Python calling a granted .NET function (<c>host.add(4, 5)</c>), beside a warm run that calls none.
/// One call's round trip (Python → JS → .NET bridge → thread pool → back, JSON both ways) is
/// (<c>HundredCalls</c> − <c>WarmRun</c>) / 100; <c>OneCall</c> − <c>WarmRun</c> says the same for a single call.
/// Boot is excluded (GlobalSetup).
/// </summary>
[FastJob]
[MemoryDiagnoser]
public class HostCallBenchmark
{
    private PythonSandbox _sandbox = null!;

    [GlobalSetup]
    public void Setup()
    {
        var functions = new SandboxFunctions().Add("add", (long a, long b) => a + b);
        _sandbox = PythonSandbox.CreateAsync(Workloads.Options with { Functions = functions }).GetAwaiter().GetResult();
        _sandbox.RunAsync("from host import add").GetAwaiter().GetResult().ThrowIfError();
    }

    [GlobalCleanup]
    public void Cleanup() => _sandbox.Dispose();

    [Benchmark(Baseline = true)]
    public Task<SandboxResult> WarmRun() => _sandbox.RunAsync("4 + 5");

    [Benchmark]
    public Task<SandboxResult> OneCall() => _sandbox.RunAsync("add(4, 5)");

    [Benchmark]
    public Task<SandboxResult> HundredCalls() => _sandbox.RunAsync("for i in range(100): add(i, 5)");
}
