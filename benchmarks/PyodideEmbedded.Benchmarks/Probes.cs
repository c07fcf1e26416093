using System.Diagnostics;
using System.Globalization;

namespace PyodideEmbedded.Benchmarks;

/// <summary>Resident memory: of this process per live sandbox, and of each peer process after its first reply.</summary>
internal static class MemoryProbe
{
    public static async Task RunAsync(TextWriter output)
    {
        var baseline = ResidentBytes(Environment.ProcessId);
        var sandboxes = new List<PythonSandbox>();
        var rows = new List<(int Count, long Rss)>();
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
            rows.Add((sandboxes.Count, ResidentBytes(Environment.ProcessId)));
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

        output.WriteLine("| live sandboxes | process RSS (MiB) |");
        output.WriteLine("|---:|---:|");
        output.WriteLine($"| 0 (runtime only) | {MiB(baseline)} |");
        foreach (var (count, rss) in rows)
        {
            output.WriteLine($"| {count} | {MiB(rss)} |");
        }

        var marginal = (rows[^1].Rss - rows[0].Rss) / (double)(rows[^1].Count - rows[0].Count);
        output.WriteLine($"\nMarginal RSS per extra sandbox (1 → {rows[^1].Count}): {marginal / (1024 * 1024):F1} MiB");
        output.WriteLine($"Live sandboxes answering afterwards: {answering} of {sandboxes.Count}");
        output.WriteLine(ceiling is null ? "No ceiling reached." : "Ceiling: " + ceiling);
        foreach (var sandbox in sandboxes)
        {
            await sandbox.DisposeAsync();
        }

        output.WriteLine("\n| peer | RSS of one runner after its first reply (MiB) |");
        output.WriteLine("|---|---:|");
        foreach (var peer in new[] { Peer.Deno, Peer.Node })
        {
            try
            {
                using var process = PeerProcess.Start(peer);
                process.Run(Workloads.FourPlusFive);
                output.WriteLine($"| {peer} | {MiB(ResidentBytes(process.ProcessId))} |");
            }
            catch (InvalidOperationException e)
            {
                output.WriteLine($"| {peer} | unavailable: {e.Message} |");
            }
        }
    }

    private static string MiB(long bytes) => (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture);

    internal static long ResidentBytes(int processId)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("No VmRSS in /proc/status.");
    }
}

/// <summary>The first sandbox in a fresh process pays for loading V8 and verifying the assets.</summary>
internal static class ColdProbe
{
    public static async Task RunAsync(TextWriter output)
    {
        for (var i = 1; i <= 3; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var sandbox = await PythonSandbox.CreateAsync(Workloads.Options);
            await sandbox.RunAsync(Workloads.FourPlusFive);
            output.WriteLine($"sandbox {i} in this process: create + first 4 + 5 = {clock.Elapsed.TotalMilliseconds:F0} ms");
        }
    }
}
