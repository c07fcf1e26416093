using System.Diagnostics;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// Sustained fresh-per-run throughput: callers loop on <c>pool.RunAsync("4 + 5")</c>, which gives every run a new
/// sandbox and discards it afterwards (the multi-tenant mode). Measured after a warm-up, for 1 and 2 callers.
/// Not BenchmarkDotNet: the figure is a rate sustained over seconds, with the pool refilling behind the callers.
/// </summary>
/// <remarks>Usage: <c>--probe-fresh-runs [seconds]</c> (default 12).</remarks>
internal static class FreshRunProbe
{
    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var seconds = args.SkipWhile(a => a != "--probe-fresh-runs").Skip(1).FirstOrDefault() is { } s && int.TryParse(s, out var n) ? n : 12;
        foreach (var callers in new[] { 1, 2 })
        {
            await using var pool = new SandboxPool(new SandboxPoolOptions { Sandbox = Workloads.Options, MinReady = 2, MaxSandboxes = 4 });
            await pool.WarmUpAsync();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            var runs = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, callers).Select(async _ =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var result = await pool.RunAsync(Workloads.FourPlusFive);
                    if (result.Error is not null || result.Value?.GetInt32() != 9)
                    {
                        throw new InvalidOperationException("A fresh run did not answer 9.");
                    }

                    Interlocked.Increment(ref runs);
                }
            }));
            output.WriteLine($"{callers} caller(s): {runs} fresh runs in {clock.Elapsed.TotalSeconds:F1} s = {runs / clock.Elapsed.TotalSeconds:F1} runs/s");
        }
    }
}
