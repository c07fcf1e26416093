using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;

namespace PyodideEmbedded.Benchmarks;

/// <summary>Quick mode (<c>--quick</c>) sets this variable so the benchmark processes BenchmarkDotNet starts see it too.</summary>
internal static class BenchMode
{
    public const string QuickVariable = "PYODIDE_EMBEDDED_BENCH_QUICK";

    public static bool Quick => Environment.GetEnvironmentVariable(QuickVariable) == "1";
}

/// <summary>
/// One call per iteration, measured as it is: for operations that take 100 ms or more, and for
/// millisecond ones that need a set-up before each call (those ask for more iterations).
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class SlowJobAttribute(int quickIterations = 3, int iterations = 10) : JobConfigBaseAttribute(
    Job.Default
        .WithStrategy(RunStrategy.Monitoring)
        .WithLaunchCount(1)
        .WithWarmupCount(1)
        .WithIterationCount(BenchMode.Quick ? quickIterations : iterations)
        .WithInvocationCount(1)
        .WithUnrollFactor(1));

/// <summary>For microsecond operations: BenchmarkDotNet's usual pilot and many iterations.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class FastJobAttribute() : JobConfigBaseAttribute(
    BenchMode.Quick ? Job.ShortRun : Job.Default.WithLaunchCount(1).WithMinIterationCount(15).WithMaxIterationCount(40));
