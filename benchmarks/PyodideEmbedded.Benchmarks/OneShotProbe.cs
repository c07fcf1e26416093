using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// A fresh process answers <c>4 + 5</c> and exits: what every short-lived caller (a build step, a test, a
/// serverless function, a tool) pays. Wall time from spawn to exit and peak resident memory (GNU time's
/// <c>%M</c>, the kernel's ru_maxrss), for the CLI with its start-up cache in place, the CLI's very first
/// run on a machine (an empty cache folder), the CLI keeping nothing on disk, the single-file CLI, the
/// Deno and Node runners (one request, then shutdown), and native CPython; then the library's first and
/// later sandboxes in a fresh process (<see cref="ColdProbe"/>, run as its own process).
/// Not BenchmarkDotNet: each sample is a new process, and the point is the first start.
/// </summary>
/// <remarks>
/// Usage: <c>--probe-one-shot [runs] [--single-file PATH]</c>. Needs GNU time (<c>/usr/bin/time</c>), the CLI
/// built (<c>dotnet build PyodideEmbedded.sln -c Release</c>), and the peers installed
/// (<c>bash benchmarks/peers/install.sh</c>) for their rows.
/// </remarks>
internal static class OneShotProbe
{
    private const string GnuTime = "/usr/bin/time";

    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var runs = args.SkipWhile(a => a != "--probe-one-shot").Skip(1).FirstOrDefault() is { } n && int.TryParse(n, out var count) ? count : 10;
        var singleFile = args.SkipWhile(a => a != "--single-file").Skip(1).FirstOrDefault();
        // The apphost beside the built dll, as a user runs it (`dotnet x.dll` would add the muxer's start).
        var cliDll = SoakProbe.FindCli();
        var cli = Path.ChangeExtension(cliDll, null);

        var cache = Directory.CreateTempSubdirectory("pe-one-shot-cache-");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cache.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        try
        {
            var cacheDir = Path.Combine(cache.FullName, "kept");
            string[] dotnet = File.Exists(cli) ? [cli] : ["dotnet", cliDll];
            var rows = new List<(string Name, List<(double Seconds, long PeakKiB)> Samples)>();

            async Task Measure(string name, int times, Func<int, Task<(double, long)>> once)
            {
                var samples = new List<(double, long)>();
                for (var i = 0; i < times; i++)
                {
                    samples.Add(await once(i));
                }

                rows.Add((name, samples));
                output.WriteLine($"{name}: {string.Join(", ", samples.Select(s => $"{s.Item1:F2} s/{s.Item2 / 1024} MiB"))}");
            }

            // The very first run on a machine: nothing kept yet (a new empty folder each time).
            await Measure("CLI, first run on a machine (empty cache folder)", Math.Min(runs, 3),
                i => TimeAsync([.. dotnet, "run", "--cache-dir", Path.Combine(cache.FullName, $"first-{i}"), "4 + 5"], null));
            await Measure("CLI, nothing kept on disk (`--no-cache`: every process boots)", Math.Min(runs, 3),
                _ => TimeAsync([.. dotnet, "run", "--no-cache", "4 + 5"], null));
            await TimeAsync([.. dotnet, "prepare", "--cache-dir", cacheDir], null);
            await Measure("CLI `pyodide-sandbox run \"4 + 5\"`, start-up cache in place", runs,
                _ => TimeAsync([.. dotnet, "run", "--cache-dir", cacheDir, "4 + 5"], null));
            if (singleFile is not null)
            {
                await TimeAsync([singleFile, "prepare", "--cache-dir", cacheDir], null);
                await Measure("single-file CLI, start-up cache in place", runs,
                    _ => TimeAsync([singleFile, "run", "--cache-dir", cacheDir, "4 + 5"], null));
            }

            var peers = PeerProcess.PeersFolder;
            var deno = Path.Combine(peers, "node_modules", "deno", "deno");
            const string Requests = "{\"code\": \"4 + 5\"}\n{\"shutdown\": true}\n";
            if (File.Exists(deno))
            {
                await Measure("Deno runner: spawn, `{\"code\": \"4 + 5\"}`, shutdown", runs,
                    _ => TimeAsync([deno, "run", "--cached-only", "--no-prompt", "--allow-read=node_modules/pyodide", "runner.deno.js"], Requests, peers));
                await Measure("Node runner: the same", runs, _ => TimeAsync(["node", "runner.node.mjs"], Requests, peers));
            }
            else
            {
                output.WriteLine("Deno and Node rows skipped: run `bash benchmarks/peers/install.sh`.");
            }

            await Measure("native `python3 -c 'print(4 + 5)'`", runs, _ => TimeAsync(["python3", "-c", "print(4 + 5)"], null));

            output.WriteLine();
            output.WriteLine("| fresh process, `4 + 5` | wall median (min–max) | peak RSS median |");
            output.WriteLine("|---|---:|---:|");
            foreach (var (name, samples) in rows)
            {
                var seconds = samples.Select(s => s.Seconds).Order().ToList();
                var peaks = samples.Select(s => s.PeakKiB).Order().ToList();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Median(seconds):F2} s ({seconds[0]:F2}–{seconds[^1]:F2}) | {Median(peaks.Select(p => (double)p).ToList()) / 1024:F0} MiB |"));
            }

            // The library: ColdProbe in its own fresh process, with the cache in place.
            output.WriteLine();
            var selfDll = typeof(OneShotProbe).Assembly.Location;
            string[] self = File.Exists(Path.ChangeExtension(selfDll, null)) ? [Path.ChangeExtension(selfDll, null)] : ["dotnet", selfDll];
            for (var i = 0; i < Math.Min(runs, 5); i++)
            {
                var (_, stdout) = await RunToEndAsync([.. self, "--probe-cold"], null, null,
                    [("PYODIDE_BENCH_CACHE", cacheDir)]);
                output.WriteLine($"library process {i + 1}: {string.Join("; ", stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))}");
            }
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>Wall seconds from spawn to exit and peak RSS in KiB, through GNU time.</summary>
    private static async Task<(double Seconds, long PeakKiB)> TimeAsync(string[] command, string? stdin, string? folder = null)
    {
        var (code, stderr) = await RunToEndAsync([GnuTime, "-f", "@@%e %M", .. command], stdin, folder, []);
        var line = stderr.Split('\n').LastOrDefault(l => l.StartsWith("@@", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{string.Join(' ', command)} gave no timing (exit {code}): {stderr}");
        var parts = line[2..].Split(' ');
        return code == 0
            ? (double.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture))
            : throw new InvalidOperationException($"{string.Join(' ', command)} exited {code}: {stderr}");
    }

    // Returns the exit code and stderr (GNU time's report) for TimeAsync, stdout for the library probe.
    private static async Task<(int ExitCode, string Text)> RunToEndAsync(string[] command, string? stdin, string? folder, (string, string)[] environment)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = folder ?? Environment.CurrentDirectory,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {command[0]}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(stdin ?? "");
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        return (process.ExitCode, command[0] == GnuTime ? await stderr : await stdout);
    }
}
