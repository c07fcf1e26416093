using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.Benchmarks;

/// <summary>
/// Memory under long load: one <c>pyodide-sandbox serve</c> process answers a long, seeded mix of
/// requests (values, Python errors, soft and hard time-outs, MemoryErrors, output floods, big values);
/// every reply is checked against its own request, and the server's resident memory is sampled as it
/// goes. Hard time-outs cost the server its sandbox, so a long soak also starts and disposes
/// hundreds of V8 isolates in the one process.
/// </summary>
/// <remarks>
/// Usage: <c>--probe-soak [requests] [--seed N] [--sample-every N] [--cli path/to/pyodide-sandbox.dll]</c>.
/// Without <c>--cli</c> (or <c>PYODIDE_SANDBOX_CLI</c>), the CLI built in this repository is used
/// (build it first: <c>dotnet build PyodideEmbedded.sln -c Release</c>).
/// </remarks>
internal static class SoakProbe
{
    private const int MemoryCapMiB = 256;
    private const int TimeoutMs = 1000;
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SettleInterval = TimeSpan.FromMilliseconds(500);
    private const int FloorWindow = 500;

    /// <summary>What a request does, and so what its reply must be.</summary>
    internal enum Kind
    {
        Value,          // ['r{i}', sum(range(n))]
        PythonError,    // raise ValueError('r{i}')
        SoftTimeout,    // while True: pass (KeyboardInterrupt; the sandbox is kept)
        HardTimeout,    // sum(range(10**12)) (C code: V8 terminates the run; the sandbox is replaced)
        BigIntTimeout,  // 10**10**8 (soft or hard, depending on where the interrupt lands)
        HugeAlloc,      // bytearray(1 << 30): MemoryError at once
        GrowingList,    // a list grown until the wasm memory cap: MemoryError, 256 MiB touched
        OutputFlood,    // print('r{i}' + 'x' * 10**6)
        BigValue,       // ['r{i}'] + list(range(10**5))
    }

    // Per 100 requests. Roughly one request in 25 costs the server its sandbox.
    private static readonly (Kind Kind, int Weight)[] s_mix =
    [
        (Kind.Value, 50), (Kind.PythonError, 12), (Kind.SoftTimeout, 4), (Kind.HardTimeout, 3), (Kind.BigIntTimeout, 1),
        (Kind.HugeAlloc, 6), (Kind.GrowingList, 3), (Kind.OutputFlood, 8), (Kind.BigValue, 13),
    ];

    /// <summary>The deterministic sequence of request kinds for a seed.</summary>
    internal static Kind[] Plan(int requests, int seed)
    {
        var random = new Random(seed);
        var total = s_mix.Sum(m => m.Weight);
        var plan = new Kind[requests];
        for (var i = 0; i < requests; i++)
        {
            var pick = random.Next(total);
            foreach (var (kind, weight) in s_mix)
            {
                if ((pick -= weight) < 0)
                {
                    plan[i] = kind;
                    break;
                }
            }
        }

        // Each milestone is measured in the same state: request m-1 costs the server its sandbox and
        // request m is the first run of the replacement. Otherwise a milestone would land at random
        // before or after a run that filled its sandbox's 256 MiB, and RSS swings by that much.
        foreach (var milestone in Milestones.Where(m => m <= requests))
        {
            plan[milestone - 2] = Kind.HardTimeout;
            plan[milestone - 1] = Kind.Value;
        }

        return plan;
    }

    internal static readonly int[] Milestones = [100, 1000, 3000, 6000, 10000];

    /// <summary>The code of request <paramref name="i"/>; its output, value or message names <c>r{i}</c>.</summary>
    internal static string Code(Kind kind, int i) => kind switch
    {
        Kind.Value => $"v = {i}\n['r{i}', sum(range({i % 1000}))]",
        Kind.PythonError => $"raise ValueError('r{i}')",
        Kind.SoftTimeout => $"print('r{i}')\nwhile True: pass",
        Kind.HardTimeout => $"print('r{i}')\nsum(range(10**12))",
        Kind.BigIntTimeout => $"print('r{i}')\n10**10**8",
        Kind.HugeAlloc => $"print('r{i}')\nbytearray(1 << 30)",
        Kind.GrowingList => $"print('r{i}')\ndef grow():\n    x = []\n    while True:\n        x.append(' ' * 100000)\ngrow()",
        Kind.OutputFlood => $"print('r{i}' + 'x' * 10**6)",
        Kind.BigValue => $"['r{i}'] + list(range(10**5))",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// Whether the reply answers request <paramref name="i"/>: Problem is set when it does not (a wrong
    /// reply); Note when it is right but not the usual answer (a time-out of a normally fast run on a
    /// busy machine, or state_lost with no killed run before it).
    /// </summary>
    internal static (string? Problem, string? Note) Check(Kind kind, int i, JsonElement reply, bool previousLostState)
    {
        if (reply.ValueKind != JsonValueKind.Object)
        {
            return ("not a JSON object", null);
        }

        var id = $"r{i}";
        var stateLost = reply.TryGetProperty("state_lost", out var lost) && lost.ValueKind == JsonValueKind.True;
        var errorType = String(reply, "error_type");
        string? Error(string type, bool stdoutId)
        {
            if (errorType != type)
            {
                return $"expected {type}, got: {Trim(reply.GetRawText())}";
            }

            return stdoutId && String(reply, "stdout") != id + "\n" ? $"stdout is not '{id}': {Trim(reply.GetRawText())}" : null;
        }

        var timeoutKind = kind is Kind.HardTimeout or Kind.SoftTimeout or Kind.BigIntTimeout or Kind.GrowingList;
        if (errorType == "TimeoutError" && !timeoutKind)
        {
            // Normally milliseconds; on a loaded machine a run can pass the 1 s limit. Then the only
            // check left is that the id it printed first, if any, is its own.
            var printedFirst = kind is Kind.HugeAlloc && !stateLost;
            return (printedFirst ? Error("TimeoutError", stdoutId: true) : null, "timed out (machine load)");
        }

        var problem = kind switch
        {
            Kind.Value => reply.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Array && output.GetArrayLength() == 2
                && output[0].ValueKind == JsonValueKind.String && output[0].GetString() == id
                && output[1].TryGetInt64(out var sum) && sum == (long)(i % 1000) * ((i % 1000) - 1) / 2
                ? null : "wrong value: " + Trim(reply.GetRawText()),
            Kind.PythonError => String(reply, "error") == $"ValueError: {id}" ? null : "wrong error: " + Trim(reply.GetRawText()),
            // Soft: the id was printed. Hard (the interrupt was not taken in its grace period): output is lost.
            Kind.SoftTimeout or Kind.BigIntTimeout => Error("TimeoutError", stdoutId: !stateLost),
            Kind.HardTimeout => Error("TimeoutError", stdoutId: false) ?? (stateLost ? null : "no state_lost after a hard time-out"),
            Kind.HugeAlloc => Error("MemoryError", stdoutId: true),
            // Filling 256 MiB takes ~0.5 s; on a busy machine it may reach the time limit first.
            Kind.GrowingList => errorType == "TimeoutError" ? Error("TimeoutError", stdoutId: !stateLost) : Error("MemoryError", stdoutId: true),
            Kind.OutputFlood => reply.TryGetProperty("output", out _) && String(reply, "stdout") is { } stdout
                && stdout.Length == id.Length + 1_000_000 + 1 && stdout.StartsWith(id + "x", StringComparison.Ordinal)
                ? null : "wrong flood: " + Trim(reply.GetRawText()),
            Kind.BigValue => reply.TryGetProperty("output", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() == 100_001
                && list[0].ValueKind == JsonValueKind.String && list[0].GetString() == id
                && list[100_000].TryGetInt32(out var last) && last == 99_999
                ? null : "wrong big value: " + Trim(reply.GetRawText()),
            _ => "unknown kind",
        };

        // A killed run says state_lost, and so does the first run in its replacement.
        var mayLoseState = kind is Kind.HardTimeout || errorType == "TimeoutError" || previousLostState;
        return (problem, stateLost && !mayLoseState && problem is null ? "state_lost with no killed run before it" : null);
    }

    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var requests = args.SkipWhile(a => a != "--probe-soak").Skip(1).FirstOrDefault() is { } n && int.TryParse(n, out var parsed) ? parsed : 3000;
        var seed = IntOption(args, "--seed", 13);
        var sampleEvery = IntOption(args, "--sample-every", 10);
        var rowEvery = IntOption(args, "--row-every", requests <= 3000 ? 100 : 500);
        var cli = Option(args, "--cli") ?? Environment.GetEnvironmentVariable("PYODIDE_SANDBOX_CLI") ?? FindCli();
        var plan = Plan(requests, seed);

        output.WriteLine($"Soak: {requests} requests (seed {seed}) against `pyodide-sandbox serve --memory-mb {MemoryCapMiB} --timeout-ms {TimeoutMs}`");
        output.WriteLine($"CLI: {cli}");
        output.WriteLine("Mix per 100: " + string.Join(", ", s_mix.Select(m => $"{m.Kind} {m.Weight}")));
        output.WriteLine($"Planned: " + string.Join(", ", plan.GroupBy(k => k).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
        output.WriteLine();

        using var server = StartServer(cli);
        var stderrLines = 0;
        var replacements = 0; // the server says "sandbox discarded" on stderr for each
        var lastStderr = new Queue<string>();
        server.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (lastStderr)
            {
                stderrLines++;
                replacements += e.Data.Contains("sandbox discarded", StringComparison.Ordinal) ? 1 : 0;
                lastStderr.Enqueue(e.Data);
                if (lastStderr.Count > 5)
                {
                    lastStderr.Dequeue();
                }
            }
        };
        server.BeginErrorReadLine();
        int Replaced()
        {
            lock (lastStderr)
            {
                return replacements;
            }
        }

        var clock = Stopwatch.StartNew();
        var wrong = new List<string>();
        var notes = new List<string>();
        var wrongCount = 0;
        var missing = 0;
        var samples = new List<Sample>();
        var settled = new Dictionary<int, (long Rss, long Pss)>();
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var previousLostState = false;
        output.WriteLine("| request | RSS (MiB) | PSS (MiB) | min RSS since last row | max RSS since last row | sandboxes replaced | elapsed (s) |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        var windowMin = long.MaxValue;
        var windowMax = 0L;
        for (var i = 1; i <= requests; i++)
        {
            var kind = plan[i - 1];
            await server.StandardInput.WriteLineAsync(JsonSerializer.Serialize(new { code = Code(kind, i) }));
            await server.StandardInput.FlushAsync();
            string? line;
            try
            {
                line = await server.StandardOutput.ReadLineAsync().WaitAsync(ReplyTimeout);
            }
            catch (TimeoutException)
            {
                line = null;
            }

            if (line is null)
            {
                missing = requests - i + 1;
                wrong.Add($"request {i} ({kind}): no reply within {ReplyTimeout.TotalSeconds} s (server exited: {server.HasExited}); stopping");
                break;
            }

            string? problem;
            string? note = null;
            var lostState = false;
            try
            {
                using var document = JsonDocument.Parse(line);
                (problem, note) = Check(kind, i, document.RootElement, previousLostState);
                lostState = document.RootElement.TryGetProperty("state_lost", out var lost) && lost.ValueKind == JsonValueKind.True;
                var outcome = $"{kind} → {String(document.RootElement, "error_type") ?? "value"}{(lostState ? " (state_lost)" : "")}";
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            catch (JsonException e)
            {
                problem = "not one JSON line: " + e.Message;
            }

            previousLostState = lostState;
            if (note is not null)
            {
                notes.Add($"request {i} ({kind}): {note}");
            }

            if (problem is not null)
            {
                wrongCount++;
                if (wrong.Count < 20)
                {
                    wrong.Add($"request {i} ({kind}): {problem}");
                }
            }

            if (Milestones.Contains(i))
            {
                // Settled: the replacement's first run is done; the pool's next spare starts meanwhile
                // (seconds on a loaded machine). The lowest reading of an idle window.
                var lowest = (Rss: long.MaxValue, Pss: 0L);
                for (var clockSettle = Stopwatch.StartNew(); clockSettle.Elapsed < SettleTime;)
                {
                    await Task.Delay(SettleInterval);
                    var reading = MemoryProbe.Memory(server.Id);
                    lowest = reading.Rss < lowest.Rss ? reading : lowest;
                }

                settled[i] = lowest;
            }

            if (i % sampleEvery == 0 || i % rowEvery == 0 || Milestone(i))
            {
                var rss = Status(server.Id, "VmRSS:");
                windowMin = Math.Min(windowMin, rss);
                windowMax = Math.Max(windowMax, rss);
                var row = i % rowEvery == 0 || Milestone(i);
                var pss = row ? MemoryProbe.Memory(server.Id).Pss : -1;
                var sample = new Sample(i, rss, pss, windowMin, windowMax, Replaced(), clock.Elapsed.TotalSeconds);
                samples.Add(sample);
                if (row)
                {
                    output.WriteLine($"| {i} | {MiB(rss)} | {MiB(pss)} | {MiB(windowMin)} | {MiB(windowMax)} | {sample.Replacements} | {sample.Seconds:F0} |");
                    output.Flush();
                    windowMin = long.MaxValue;
                    windowMax = 0;
                }
            }
        }

        var peak = server.HasExited ? -1 : Status(server.Id, "VmHWM:");
        await server.StandardInput.WriteLineAsync("{\"shutdown\": true}");
        server.StandardInput.Close();
        var extra = await server.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (!server.WaitForExit(30_000))
        {
            server.Kill(entireProcessTree: true);
        }

        if (extra.Length > 0)
        {
            wrongCount++;
            wrong.Add($"extra output after the last reply: {Trim(extra)}");
        }

        output.WriteLine();
        output.WriteLine($"Requests answered: {requests - missing} of {requests}; wrong replies: {wrongCount}; missing: {missing}; " +
            $"sandboxes replaced: {Replaced()}; server stderr lines: {stderrLines}; {clock.Elapsed.TotalMinutes:F1} min");
        foreach (var w in wrong)
        {
            output.WriteLine("  " + w);
        }

        if (notes.Count > 0)
        {
            output.WriteLine($"Right but unusual replies: {notes.Count}: " + string.Join("; ", notes.Take(12)) + (notes.Count > 12 ? "; ..." : ""));
        }

        output.WriteLine("Outcomes: " + string.Join("; ", outcomes.Select(o => $"{o.Key} {o.Value}")));

        if (missing > 0)
        {
            lock (lastStderr)
            {
                output.WriteLine("  last server stderr: " + string.Join(" / ", lastStderr));
            }
        }

        output.WriteLine();
        output.WriteLine($"Milestones: request m-1 is a hard time-out (the sandbox is replaced), request m a value; settled = the lowest " +
            $"RSS (and its PSS) over the {SettleTime.TotalSeconds:F0} s after reply m, read every {SettleInterval.TotalMilliseconds:F0} ms. " +
            $"Floor = the lowest RSS sampled (every {sampleEvery} requests) in the {FloorWindow} requests up to m.");
        output.WriteLine();
        output.WriteLine($"| at request | settled RSS (MiB) | vs. request 100 | settled PSS (MiB) | floor RSS (MiB) | RSS range over the {FloorWindow} requests before (MiB) |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|");
        var baseline = settled.TryGetValue(100, out var b) ? b.Rss : (long?)null;
        foreach (var (at, (rss, pss)) in settled.OrderBy(p => p.Key))
        {
            var window = samples.Where(x => x.Request > at - FloorWindow && x.Request <= at).ToList();
            var floor = window.Count == 0 ? "" : MiB(window.Min(x => x.Rss));
            var range = window.Count == 0 ? "" : $"{MiB(window.Min(x => x.Rss))}–{MiB(window.Max(x => x.Rss))}";
            output.WriteLine($"| {at} | {MiB(rss)} | {Ratio(rss, baseline)} | {MiB(pss)} | {floor} | {range} |");
        }

        var sampledPeak = samples.Count > 0 ? samples.Max(s => s.Rss) : -1;
        output.WriteLine();
        output.WriteLine($"Peak RSS (VmHWM, whole run, start-up included): {MiB(peak)} MiB; highest sampled RSS: {MiB(sampledPeak)} MiB " +
            $"(at request {samples.FirstOrDefault(s => s.Rss == sampledPeak)?.Request}).");
        if (baseline is { } at100)
        {
            var limit = at100 * 1.15;
            var ends = settled.Where(p => p.Key is 3000 or 10000).ToList();
            var flat = ends.Count > 0 && ends.All(p => p.Value.Rss <= limit);
            var underPeak = peak >= 0 && peak < (MemoryCapMiB + 300) * 1024L * 1024;
            output.WriteLine($"Target: settled RSS at 3,000 / 10,000 within 15% of request 100 (≤ {MiB((long)limit)} MiB): " +
                (ends.Count == 0 ? "not reached" : flat ? "met" : "not met") +
                $"; peak below {MemoryCapMiB + 300} MiB: {(underPeak ? "met" : "not met")}; wrong or missing replies: {wrongCount + missing}.");
        }
    }

    private sealed record Sample(int Request, long Rss, long Pss, long WindowMin, long WindowMax, int Replacements, double Seconds);

    private static bool Milestone(int i) => Milestones.Contains(i);

    private static Process StartServer(string cli)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in new[] { cli, "serve", "--memory-mb", $"{MemoryCapMiB}", "--timeout-ms", $"{TimeoutMs}" })
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("Could not start " + cli);
    }

    /// <summary>The CLI built in this repository: src/PyodideEmbedded.Cli/bin/{Release,Debug}/net10.0/pyodide-sandbox.dll.</summary>
    internal static string FindCli()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var configuration in new[] { "Release", "Debug" })
            {
                var candidate = Path.Combine(dir.FullName, "src", "PyodideEmbedded.Cli", "bin", configuration, "net10.0", "pyodide-sandbox.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new InvalidOperationException("pyodide-sandbox.dll not found above " + AppContext.BaseDirectory +
            ": build it (dotnet build PyodideEmbedded.sln -c Release) or pass --cli PATH.");
    }

    /// <summary>A "kB" line of /proc/PID/status, in bytes.</summary>
    private static long Status(int processId, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(fields[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"No {field} in /proc/{processId}/status.");
    }

    private static string? String(JsonElement reply, string name) =>
        reply.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Option(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    private static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is { } text && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    private static string MiB(long bytes) => bytes < 0 ? "" : (bytes / (1024.0 * 1024)).ToString("F0", CultureInfo.InvariantCulture);

    private static string Ratio(long value, long? baseline)
    {
        if (baseline is not > 0 || value < 0)
        {
            return "";
        }

        var percent = Math.Round(((double)value / baseline.Value - 1) * 100);
        return (percent < 0 ? "-" : "+") + Math.Abs(percent).ToString("0", CultureInfo.InvariantCulture) + "%";
    }

    private static string Trim(string text) => text.Length <= 200 ? text : text[..200] + $"... ({text.Length} chars)";
}
