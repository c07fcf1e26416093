using System.Diagnostics;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// Sustained fresh-per-run throughput: callers loop on <c>pool.RunAsync("4 + 5")</c>, which gives every run a fresh
/// interpreter (the multi-tenant mode): a sandbox reset in place after each run, or a new one when it cannot be.
/// Measured after a warm-up, for 1 and 2 callers, with how the pool's sandboxes were reset (the
/// <c>pyodide.sandbox.resets</c> counter). Not BenchmarkDotNet: the figure is a rate sustained over seconds.
/// </summary>
/// <remarks>Usage: <c>--probe-fresh-runs [seconds]</c> (default 12).</remarks>
internal static class FreshRunProbe
{
    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var seconds = args.SkipWhile(a => a != "--probe-fresh-runs").Skip(1).FirstOrDefault() is { } s && int.TryParse(s, out var n) ? n : 12;
        var resets = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "pyodide.sandbox.resets")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                resets.AddOrUpdate(tag.Value?.ToString() ?? "?", value, (_, total) => total + value);
            }
        });
        listener.Start();
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
            output.WriteLine($"{callers} caller(s): {runs} fresh runs in {clock.Elapsed.TotalSeconds:F1} s = {runs / clock.Elapsed.TotalSeconds:F1} runs/s; " +
                "resets: " + string.Join(", ", resets.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value}")));
            resets.Clear();
        }
    }
}
