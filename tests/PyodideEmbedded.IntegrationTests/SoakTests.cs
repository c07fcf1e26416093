using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// A short soak of <c>pyodide-sandbox serve</c>: a few hundred mixed requests (values, Python errors,
/// soft and hard time-outs, MemoryErrors, output floods, big values), sent in pipelined batches.
/// Every request's own output names it (<c>r{i}</c>), so a reply that is lost, duplicated, answered
/// out of order or answered with another request's result fails the test. The long version, with
/// memory figures, is the benchmarks' <c>--probe-soak</c>.
/// </summary>
public sealed class SoakTests
{
    private const int Requests = 300;
    private const int Batch = 10;
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);

    private enum Kind
    {
        Value,
        PythonError,
        SoftTimeout,
        HardTimeout,
        HugeAlloc,
        GrowingList,
        OutputFlood,
        BigValue,
    }

    // Per 100 requests.
    private static readonly (Kind Kind, int Weight)[] s_mix =
    [
        (Kind.Value, 55), (Kind.PythonError, 12), (Kind.SoftTimeout, 3), (Kind.HardTimeout, 3),
        (Kind.HugeAlloc, 6), (Kind.GrowingList, 3), (Kind.OutputFlood, 8), (Kind.BigValue, 10),
    ];

    [Fact(Timeout = 240_000)]
    public async Task Serve_ThreeHundredMixedRequestsInBatches_EachAnsweredOnceInOrderWithItsOwnResult()
    {
        var plan = Plan(seed: 5);
        // Only the runs meant to time out get the short limit: the others (a big value, a flood) may take more
        // than 500 ms on a loaded 2-core machine, above all early on, while V8 still compiles Python's hot code.
        await using var cli = CliProcess.Start("serve", "--timeout-ms", "10000", "--memory-mb", "128");
        var problems = new List<string>();
        var previousLostState = false;

        for (var first = 0; first < Requests; first += Batch)
        {
            var count = Math.Min(Batch, Requests - first);
            for (var i = first; i < first + count; i++)
            {
                await cli.SendLineAsync(plan[i] is Kind.SoftTimeout or Kind.HardTimeout
                    ? JsonSerializer.Serialize(new { code = Code(plan[i], i), timeout_ms = 500 })
                    : JsonSerializer.Serialize(new { code = Code(plan[i], i) }));
            }

            for (var i = first; i < first + count; i++)
            {
                var line = await cli.ReadLineAsync().WaitAsync(ReplyTimeout);
                Assert.True(line is not null, $"No reply to request {i} ({plan[i]}); the server's stderr:\n{cli.Stderr}");
                using var reply = JsonDocument.Parse(line);
                if (Check(plan[i], i, reply.RootElement, previousLostState) is { } problem)
                {
                    problems.Add($"request {i} ({plan[i]}): {problem}");
                }

                previousLostState = reply.RootElement.TryGetProperty("state_lost", out var lost) && lost.ValueKind == JsonValueKind.True;
            }
        }

        // Still in step after the soak: the next request gets exactly its own reply, and nothing follows the last one.
        await cli.SendLineAsync(JsonSerializer.Serialize(new { code = "'last'" }));
        var last = await cli.ReadLineAsync().WaitAsync(ReplyTimeout);
        await cli.SendLineAsync("""{"shutdown": true}""");
        cli.CloseInput();
        var rest = await cli.ReadRestAsync().WaitAsync(ReplyTimeout);

        Assert.True(problems.Count == 0, $"{problems.Count} wrong replies:\n{string.Join("\n", problems.Take(20))}");
        Assert.NotNull(last);
        using (var lastReply = JsonDocument.Parse(last))
        {
            Assert.Equal("last", lastReply.RootElement.GetProperty("output").GetString());
        }

        Assert.Equal("", rest);
        Assert.Equal(0, await cli.WaitForExitAsync());
        // Kills, replacements and floods all happened, or the test proved less than it says.
        Assert.Contains(Kind.HardTimeout, plan);
        Assert.Contains(Kind.GrowingList, plan);
        Assert.Contains(Kind.OutputFlood, plan);
    }

    private static Kind[] Plan(int seed)
    {
        var random = new Random(seed);
        var total = s_mix.Sum(m => m.Weight);
        var plan = new Kind[Requests];
        for (var i = 0; i < Requests; i++)
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

        return plan;
    }

    private static string Code(Kind kind, int i) => kind switch
    {
        Kind.Value => $"['r{i}', sum(range({i}))]",
        Kind.PythonError => $"raise ValueError('r{i}')",
        Kind.SoftTimeout => $"print('r{i}')\nwhile True: pass",
        Kind.HardTimeout => $"print('r{i}')\nsum(range(10**12))",
        Kind.HugeAlloc => $"print('r{i}')\nbytearray(1 << 30)",
        Kind.GrowingList => $"print('r{i}')\ndef grow():\n    x = []\n    while True:\n        x.append(' ' * 100000)\ngrow()",
        Kind.OutputFlood => $"print('r{i}' + 'x' * 500_000)",
        Kind.BigValue => $"['r{i}'] + list(range(50_000))",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Null when <paramref name="reply"/> is the answer to request <paramref name="i"/>; otherwise what is wrong with it.</summary>
    private static string? Check(Kind kind, int i, JsonElement reply, bool previousLostState)
    {
        var id = $"r{i}";
        var text = reply.GetRawText();
        var shown = text.Length <= 300 ? text : text[..300] + "...";
        var stateLost = reply.TryGetProperty("state_lost", out var lost) && lost.ValueKind == JsonValueKind.True;
        var errorType = String(reply, "error_type");
        var stdout = String(reply, "stdout");
        var output = reply.TryGetProperty("output", out var o) ? o : default;

        // A run that was killed says state_lost, and so does the first run in its replacement.
        var mayLoseState = previousLostState || kind is Kind.HardTimeout || errorType == "TimeoutError";
        if (stateLost && !mayLoseState)
        {
            return "unexpected state_lost: " + shown;
        }

        var right = kind switch
        {
            Kind.Value => output.ValueKind == JsonValueKind.Array && output.GetArrayLength() == 2
                && IsString(output[0], id) && output[1].ValueKind == JsonValueKind.Number && output[1].GetInt64() == (long)i * (i - 1) / 2,
            Kind.PythonError => String(reply, "error") == $"ValueError: {id}",
            // Soft: Python stopped and its output is kept. Hard (it did not stop in its grace period): output is lost.
            Kind.SoftTimeout => errorType == "TimeoutError" && (stateLost || stdout == id + "\n"),
            // The output of a killed run is lost: only the kind of answer can be checked.
            Kind.HardTimeout => errorType == "TimeoutError" && stateLost,
            Kind.HugeAlloc => errorType == "MemoryError" && stdout == id + "\n",
            // Filling 128 MiB takes a few hundred ms; on a loaded machine the time limit may come first.
            Kind.GrowingList => (errorType == "MemoryError" && stdout == id + "\n")
                || (errorType == "TimeoutError" && (stateLost || stdout == id + "\n")),
            Kind.OutputFlood => output.ValueKind == JsonValueKind.Null && stdout is not null
                && stdout.Length == id.Length + 500_000 + 1 && stdout.StartsWith(id + "x", StringComparison.Ordinal),
            Kind.BigValue => output.ValueKind == JsonValueKind.Array && output.GetArrayLength() == 50_001
                && IsString(output[0], id) && output[50_000].ValueKind == JsonValueKind.Number && output[50_000].GetInt32() == 49_999,
            _ => false,
        };
        return right ? null : "wrong reply: " + shown;
    }

    private static bool IsString(JsonElement element, string expected) =>
        element.ValueKind == JsonValueKind.String && element.GetString() == expected;

    private static string? String(JsonElement reply, string name) =>
        reply.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
