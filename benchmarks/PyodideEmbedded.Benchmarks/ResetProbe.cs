using System.Diagnostics;
using System.Globalization;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// <see cref="PythonSandbox.ResetAsync"/>: its latency after each kind of run that the issue names (median and
/// P99, and how many resets kept the isolate), then the memory of one sandbox recycled many times.
/// Not BenchmarkDotNet: each reset needs its own dirty run before it, and the memory figure is a trend.
/// </summary>
/// <remarks>Usage: <c>--probe-reset [resets per kind] [recycled runs]</c> (default 300 and 10,000).</remarks>
internal static class ResetProbe
{
    private static readonly (string Kind, string Code, RunInputs? Inputs)[] s_runs =
    [
        ("4 + 5", "4 + 5", null),
        ("imports, output, an error", "import json, re, collections\nprint(json.dumps({'a': [1, 2]}))\nraise ValueError('x')", null),
        ("memory to its cap (MemoryError)", "x = []\nwhile True:\n    x.append(bytearray(16 << 20))", null),
        ("host files in and out (1 MiB)", "open('/data/in.bin', 'rb').read()[:4]",
            new RunInputs
            {
                Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/in.bin"] = new byte[1 << 20], ["/tmp/t/x.txt"] = "t"u8.ToArray() },
                ReadFiles = ["/data/in.bin"],
            }),
        ("stopped by the soft time limit", "while True:\n    pass", new RunInputs { Timeout = TimeSpan.FromMilliseconds(100) }),
    ];

    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var numbers = args.SkipWhile(a => a != "--probe-reset").Skip(1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal))
            .Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray();
        var perKind = numbers.Length > 0 ? numbers[0] : 300;
        var recycled = numbers.Length > 1 ? numbers[1] : 10_000;
        var options = Workloads.Options with { MemoryLimitBytes = 256L << 20 };

        output.WriteLine("| the run before the reset | resets | median (ms) | P99 (ms) | kept the isolate |");
        output.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (kind, code, inputs) in s_runs)
        {
            await using var sandbox = await PythonSandbox.CreateAsync(options);
            var times = new List<double>();
            var count = kind.StartsWith("stopped", StringComparison.Ordinal) ? Math.Min(perKind, 50) : perKind;
            for (var i = 0; i < count; i++)
            {
                await sandbox.RunAsync(code, inputs);
                var started = Stopwatch.GetTimestamp();
                await sandbox.ResetAsync();
                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            times.Sort();
            output.WriteLine($"| {kind} | {count} | {Ms(times[times.Count / 2])} | {Ms(times[(int)(times.Count * 0.99)])} | {sandbox.Resets.InPlace} of {count} |");
        }

        await RecycledMemoryAsync(recycled, output);
    }

    // One sandbox, run and reset `runs` times with a mixed load: is the process's memory flat, and does a reset give
    // back what a run took?
    private static async Task RecycledMemoryAsync(int runs, TextWriter output)
    {
        var processId = Environment.ProcessId;
        await using var sandbox = await PythonSandbox.CreateAsync(Workloads.Options);
        await sandbox.RunAsync(Workloads.FourPlusFive);
        await sandbox.ResetAsync();
        var idle = Settled(processId);
        await sandbox.RunAsync("x = bytearray(200 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1");
        var dirty = Settled(processId);
        await sandbox.ResetAsync();
        var reset = Settled(processId);
        output.WriteLine();
        output.WriteLine($"One sandbox's process: idle after a reset RSS {MiB(idle.Rss)} / PSS {MiB(idle.Pss)} MiB; after a run that wrote 200 MiB " +
            $"RSS {MiB(dirty.Rss)}; after its reset RSS {MiB(reset.Rss)} / PSS {MiB(reset.Pss)} MiB.");

        string[] mixed = ["4 + 5", "import json\njson.dumps(list(range(1000)))", "s = 'x' * 1_000_000\nlen(s)", "sum(i * i for i in range(20_000))", "print('hello ' * 100)"];
        output.WriteLine();
        output.WriteLine("| recycled runs | process RSS (MiB) | process PSS (MiB) |");
        output.WriteLine("|---:|---:|---:|");
        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= runs; i++)
        {
            await sandbox.RunAsync(mixed[i % mixed.Length]);
            await sandbox.ResetAsync();
            if (i % (runs / 5) == 0)
            {
                var memory = Settled(processId);
                output.WriteLine($"| {i:N0} | {MiB(memory.Rss)} | {MiB(memory.Pss)} |");
            }
        }

        output.WriteLine($"\n{runs:N0} runs and resets in {clock.Elapsed.TotalSeconds:F1} s; resets in place: {sandbox.Resets.InPlace:N0}, on a new isolate: {sandbox.Resets.NewIsolate:N0}.");
    }

    private static (long Rss, long Pss) Settled(int processId)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return MemoryProbe.Memory(processId);
    }

    private static string Ms(double ms) => ms.ToString("F2", CultureInfo.InvariantCulture);

    private static string MiB(long bytes) => (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture);
}
