using System.Diagnostics;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// Sustained fresh-per-run throughput: callers loop on <c>pool.RunAsync("4 + 5")</c>, which gives every run a fresh
/// interpreter (the multi-tenant mode): a sandbox reset in place after each run, or a new one when it cannot be.
/// Measured after a warm-up, for 1 and 2 callers, with how the pool's sandboxes were reset (the
/// <c>pyodide.sandbox.resets</c> counter). Not BenchmarkDotNet: the figure is a rate sustained over seconds.
/// </summary>
/// <remarks>Usage: <c>--probe-fresh-runs [seconds]</c> (default 12). Then the same for sessions opened, used twice and
/// ended, with and without resets in place.</remarks>
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

        // Session churn: open a session, run twice in it, end it. Its sandbox is reset in place for the next session,
        // or (ResetInPlace = false, the behaviour before) discarded and replaced by a new isolate.
        foreach (var inPlace in new[] { true, false })
        {
            foreach (var callers in new[] { 1, 2 })
            {
                await using var pool = new SandboxPool(new SandboxPoolOptions { Sandbox = Workloads.Options, MinReady = 2, MaxSandboxes = 4, ResetInPlace = inPlace });
                await pool.WarmUpAsync();
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
                var sessions = 0;
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
                {
                    for (var i = 0; !stop.IsCancellationRequested; i++)
                    {
                        var id = $"{caller}-{i}";
                        (await pool.RunInSessionAsync(id, "x = " + Workloads.FourPlusFive)).ThrowIfError();
                        if ((await pool.RunInSessionAsync(id, "x")).Value?.GetInt32() != 9)
                        {
                            throw new InvalidOperationException("A session lost its state.");
                        }

                        await pool.EndSessionAsync(id);
                        Interlocked.Increment(ref sessions);
                    }
                }));
                output.WriteLine($"sessions, ResetInPlace={inPlace}, {callers} caller(s): {sessions} sessions (open, 2 runs, end) in {clock.Elapsed.TotalSeconds:F1} s = {sessions / clock.Elapsed.TotalSeconds:F1} sessions/s; " +
                    "resets: " + string.Join(", ", resets.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value}")));
                resets.Clear();
            }
        }
    }
}
