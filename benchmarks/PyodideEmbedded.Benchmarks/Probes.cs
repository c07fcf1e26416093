using System.Diagnostics;
using System.Globalization;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// Resident memory: of this process per live sandbox, and of each peer process after its first reply.
/// Both RSS and PSS: on Linux the sandboxes share their memory image's unchanged pages, which RSS
/// counts once per sandbox and PSS (proportional set size) counts once in all.
/// </summary>
internal static class MemoryProbe
{
    public static async Task RunAsync(TextWriter output)
    {
        var baseline = Memory(Environment.ProcessId);
        var sandboxes = new List<PythonSandbox>();
        var rows = new List<(int Count, (long Rss, long Pss) Bytes)>();
        string? ceiling = null;
        foreach (var count in new[] { 1, 2, 4, 8, 16, 32, 64, 100, 128, 160 })
        {
            while (sandboxes.Count < count && ceiling is null)
            {
                try
                {
                    var sandbox = await PythonSandbox.CreateAsync(Workloads.Options);
                    await sandbox.RunAsync(Workloads.FourPlusFive);
                    sandboxes.Add(sandbox);
                }
                catch (SandboxException e)
                {
                    ceiling = $"sandbox {sandboxes.Count + 1} failed to start: {e.Message}";
                }
            }

            GC.Collect();
            await Task.Delay(500);
            rows.Add((sandboxes.Count, Memory(Environment.ProcessId)));
            if (ceiling is not null)
            {
                break;
            }
        }

        // Every live sandbox must still answer, not merely exist.
        var answering = 0;
        foreach (var sandbox in sandboxes)
        {
            answering += (await sandbox.RunAsync("sum(range(1000))")).Value?.GetInt32() == 499500 ? 1 : 0;
        }

        output.WriteLine("| live sandboxes | process RSS (MiB) | process PSS (MiB) |");
        output.WriteLine("|---:|---:|---:|");
        output.WriteLine($"| 0 (runtime only) | {MiB(baseline.Rss)} | {MiB(baseline.Pss)} |");
        foreach (var (count, bytes) in rows)
        {
            output.WriteLine($"| {count} | {MiB(bytes.Rss)} | {MiB(bytes.Pss)} |");
        }

        var extra = (double)(rows[^1].Count - rows[0].Count);
        output.WriteLine($"\nMarginal memory per extra sandbox (1 → {rows[^1].Count}): " +
            $"RSS {MiB((long)((rows[^1].Bytes.Rss - rows[0].Bytes.Rss) / extra))} MiB, PSS {MiB((long)((rows[^1].Bytes.Pss - rows[0].Bytes.Pss) / extra))} MiB");
        output.WriteLine($"Live sandboxes answering afterwards: {answering} of {sandboxes.Count}");
        output.WriteLine(ceiling is null ? "No ceiling reached." : "Ceiling: " + ceiling);
        foreach (var sandbox in sandboxes)
        {
            await sandbox.DisposeAsync();
        }

        output.WriteLine("\n| peer | RSS of one runner after its first reply (MiB) | PSS (MiB) |");
        output.WriteLine("|---|---:|---:|");
        foreach (var peer in new[] { Peer.Deno, Peer.Node })
        {
            try
            {
                using var process = PeerProcess.Start(peer);
                process.Run(Workloads.FourPlusFive);
                var (rss, pss) = Memory(process.ProcessId);
                output.WriteLine($"| {peer} | {MiB(rss)} | {MiB(pss)} |");
            }
            catch (InvalidOperationException e)
            {
                output.WriteLine($"| {peer} | unavailable: {e.Message} | |");
            }
        }
    }

    private static string MiB(long bytes) => (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>RSS and PSS of a process, from /proc/PID/smaps_rollup.</summary>
    internal static (long Rss, long Pss) Memory(int processId)
    {
        long rss = -1, pss = -1;
        foreach (var line in File.ReadLines($"/proc/{processId}/smaps_rollup"))
        {
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields is ["Rss:", var r, ..])
            {
                rss = long.Parse(r, CultureInfo.InvariantCulture) * 1024;
            }
            else if (fields is ["Pss:", var p, ..])
            {
                pss = long.Parse(p, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return rss >= 0 && pss >= 0 ? (rss, pss) : throw new InvalidOperationException($"No Rss/Pss in /proc/{processId}/smaps_rollup.");
    }
}

/// <summary>
/// The first sandbox in a fresh process pays for loading V8 and verifying the assets (and, with an empty
/// start-up cache, for booting Pyodide); the later ones do not. <c>PYODIDE_BENCH_CACHE</c> names the cache folder.
/// </summary>
internal static class ColdProbe
{
    public static async Task RunAsync(TextWriter output)
    {
        var options = Environment.GetEnvironmentVariable("PYODIDE_BENCH_CACHE") is { } folder
            ? Workloads.Options with { StartupCachePath = folder }
            : Workloads.Options;
        for (var i = 1; i <= 6; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var sandbox = await PythonSandbox.CreateAsync(options);
            await sandbox.RunAsync(Workloads.FourPlusFive);
            output.WriteLine($"sandbox {i} in this process: create + first 4 + 5 = {clock.Elapsed.TotalMilliseconds:F0} ms");
        }
    }
}
