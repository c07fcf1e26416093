using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Xunit.Abstractions;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>
/// A seeded fuzz of the <c>serve</c> JSON-lines protocol through the real executable: thousands of malformed
/// lines (random bytes, invalid UTF-8, lone surrogates, duplicate keys, deep nesting, huge numbers, wrong types,
/// truncated JSON, byte-order marks, CR/LF variants, over-long lines, unknown fields, JSON that is not an object),
/// each followed by a valid request whose reply must carry its own id and value. Every non-blank line must get
/// exactly one reply, in order, and the server must still be alive at the end.
/// </summary>
/// <remarks>
/// No line is a valid shutdown request, and every line that could be run holds only harmless code
/// (<c>0</c>, <c>'x'</c>, <c>1+1</c>, ...): a mutation can refuse a request, never make it run long.
/// </remarks>
public sealed class CliProtocolFuzzTests(ITestOutputHelper log)
{
    private const int Seed = 20261203;
    private const int MalformedLines = 2000;
    private const int MaxCodeBytes = 1024; // the smallest the CLI accepts
    private const int MaxFileBytes = 1000;
    private const int ServerTimeoutMs = 2000;

    // As the server computes it: code JSON-escaped (6 bytes per byte), files in base64, plus framing.
    private const int MaxLineBytes = (MaxCodeBytes * 6) + (MaxFileBytes / 3 * 4) + 65536;

    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private enum Expect
    {
        /// <summary>Only spaces, tabs and CRs: no reply at all.</summary>
        Blank,

        /// <summary>Must be refused: <c>error_type</c> is <c>InvalidRequest</c>.</summary>
        Refusal,

        /// <summary>Must run: the reply has <c>output</c> (and, when given, that value).</summary>
        Output,

        /// <summary>Either is fine; only the general rules apply.</summary>
        Any,
    }

    private enum IdRule
    {
        /// <summary>The line's id cannot be known (random bytes).</summary>
        Unknown,

        /// <summary>The reply must have no id (there was none, or it could not be read).</summary>
        Absent,

        /// <summary>The reply's id must be the line's.</summary>
        Equal,

        /// <summary>The reply may leave the id out (the line did not parse), but if it has one it is the line's.</summary>
        EqualIfPresent,
    }

    private sealed record FuzzLine(string Kind, byte[] Bytes, Expect Expect, IdRule Rule, string? IdRaw, string? OutputRaw = null, string? ErrorContains = null)
    {
        public int Index { get; set; }
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Serve_SeededMalformedLines_OneReplyPerNonBlankLineAndTheServerSurvives()
    {
        var clock = Stopwatch.StartNew();
        var lines = new Generator(new Random(Seed)).Generate(MalformedLines);
        var answered = lines.Where(static l => l.Expect != Expect.Blank).ToList();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(110));
        await using var server = CliProcess.Start(
            "serve", "--max-code-bytes", $"{MaxCodeBytes}", "--max-file-bytes", $"{MaxFileBytes}", "--timeout-ms", $"{ServerTimeoutMs}");
        var writer = Task.Run(async () =>
        {
            foreach (var line in lines)
            {
                await server.SendLineAsync(line.Bytes, cancel.Token);
            }
        });

        var failures = new List<string>();
        var replies = 0;
        foreach (var line in answered)
        {
            string? reply;
            try
            {
                reply = await server.ReadLineAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                failures.Add($"no reply within the time limit to line {line.Index} ({line.Kind}): {Show(line.Bytes)}");
                break;
            }

            if (reply is null)
            {
                failures.Add($"the server closed its output after {replies} replies, before answering line {line.Index} ({line.Kind}): {Show(line.Bytes)}");
                break;
            }

            replies++;
            if (Check(line, reply) is { } problem)
            {
                failures.Add($"line {line.Index} ({line.Kind}): {problem}\n    line:  {Show(line.Bytes)}\n    reply: {Trim(reply)}");
                if (failures.Count >= 10)
                {
                    break;
                }
            }
        }

        var fuzzTime = clock.Elapsed;
        if (failures.Count > 0)
        {
            var exited = server.HasExited;
            await server.DisposeAsync();
            Assert.Fail(string.Join("\n", failures) + $"\n({replies} replies read; server exited: {exited})\nstderr (end):\n{Tail(server.Stderr)}");
        }

        await writer;

        // Still alive, still answering, and shuts down cleanly with nothing more on stdout.
        Assert.False(server.HasExited, "the server exited during the fuzz; stderr:\n" + Tail(server.Stderr));
        await server.SendLineAsync("{\"id\": \"final\", \"code\": \"'alive'\"}"u8.ToArray(), cancel.Token);
        var last = await server.ReadLineAsync(cancel.Token);
        Assert.True(last is not null, "no reply to the final request; stderr:\n" + Tail(server.Stderr));
        using (var final = JsonDocument.Parse(last))
        {
            Assert.Equal("final", final.RootElement.GetProperty("id").GetString());
            Assert.True(final.RootElement.TryGetProperty("output", out var alive), last);
            Assert.Equal("alive", alive.GetString());
        }

        await server.SendLineAsync("{\"shutdown\": true}"u8.ToArray(), cancel.Token);
        Assert.Equal(0, await server.WaitForExitAsync(cancel.Token));
        Assert.Equal("", await server.ReadRestAsync(cancel.Token));
        foreach (var fault in new[] { "Unhandled exception", "failed in the server", "run failed (" })
        {
            Assert.False(server.Stderr.Contains(fault, StringComparison.Ordinal), $"stderr reports \"{fault}\":\n{Tail(server.Stderr)}");
        }

        log.WriteLine($"{lines.Count} lines ({lines.Count(static l => l.Expect == Expect.Blank)} blank, {answered.Count} answered) "
            + $"in {fuzzTime.TotalSeconds:0.0} s; whole test {clock.Elapsed.TotalSeconds:0.0} s");
        foreach (var kind in lines.GroupBy(static l => l.Kind).OrderBy(static g => g.Key, StringComparer.Ordinal))
        {
            log.WriteLine($"  {kind.Key}: {kind.Count()}");
        }
    }

    // ----- checking one reply -----

    private static string? Check(FuzzLine line, string replyText)
    {
        JsonElement reply;
        try
        {
            using var document = JsonDocument.Parse(replyText);
            reply = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return "the reply is not JSON: " + e.Message;
        }

        if (reply.ValueKind != JsonValueKind.Object)
        {
            return "the reply is not a JSON object";
        }

        var names = reply.EnumerateObject().Select(static p => p.Name).ToList();
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
        {
            return "the reply has a key twice";
        }

        var hasId = reply.TryGetProperty("id", out var id);
        if (hasId && names[0] != "id")
        {
            return "\"id\" is not the reply's first field";
        }

        var hasError = reply.TryGetProperty("error", out var error);
        var hasOutput = reply.TryGetProperty("output", out var output);
        if (hasError == hasOutput)
        {
            return "the reply must have exactly one of \"error\" and \"output\"";
        }

        string? errorType = null;
        if (hasError)
        {
            if (error.ValueKind != JsonValueKind.String || !reply.TryGetProperty("error_type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                return "an error reply needs \"error\" and \"error_type\" strings";
            }

            errorType = type.GetString()!;
            var message = error.GetString()!;
            if (errorType == "SandboxError")
            {
                return "the server failed on this line (SandboxError)";
            }

            if (errorType == "InvalidRequest")
            {
                if (!message.StartsWith("InvalidRequest: ", StringComparison.Ordinal))
                {
                    return "an InvalidRequest error must start with \"InvalidRequest: \"";
                }

                if (message.Contains("System.", StringComparison.Ordinal) || message.Contains("Exception", StringComparison.Ordinal))
                {
                    return "the refusal names .NET types";
                }
            }
        }

        switch (line.Expect)
        {
            case Expect.Output when !hasOutput:
                return "this request is valid: it must run";
            case Expect.Output when line.OutputRaw is { } raw && !SameJson(output, raw):
                return $"the output must be {raw}";
            case Expect.Refusal when errorType != "InvalidRequest":
                return "this line must be refused as InvalidRequest";
            case Expect.Refusal when line.ErrorContains is { } part && !error.GetString()!.Contains(part, StringComparison.Ordinal):
                return $"the refusal must say \"{part}\"";
            default:
                break;
        }

        return line.Rule switch
        {
            IdRule.Absent when hasId => "the reply must have no id",
            IdRule.Equal when !hasId => $"the reply must carry the id {line.IdRaw}",
            IdRule.Equal or IdRule.EqualIfPresent when hasId && (line.IdRaw is null || !SameId(id, line.IdRaw)) =>
                $"the reply's id must be {line.IdRaw ?? "absent"}",
            _ => null,
        };
    }

    private static bool SameJson(JsonElement actual, string expectedRaw)
    {
        using var expected = JsonDocument.Parse(expectedRaw);
        return JsonElement.DeepEquals(actual, expected.RootElement);
    }

    private static bool SameId(JsonElement actual, string expectedRaw)
    {
        using var document = JsonDocument.Parse(expectedRaw);
        var expected = document.RootElement;
        return expected.ValueKind == actual.ValueKind && expected.ValueKind switch
        {
            JsonValueKind.String => expected.GetString() == actual.GetString(),
            JsonValueKind.Number => expected.GetRawText() == actual.GetRawText(),
            JsonValueKind.Null => true,
            _ => false,
        };
    }

    // A line as bytes, readable in a failure message: printable ASCII as is, the rest escaped, long lines cut.
    private static string Show(byte[] bytes)
    {
        var text = new StringBuilder();
        foreach (var b in bytes.Take(300))
        {
            text.Append(b switch
            {
                (byte)'\\' => "\\\\",
                (byte)'\r' => "\\r",
                (byte)'\t' => "\\t",
                >= 0x20 and < 0x7F => ((char)b).ToString(),
                _ => $"\\x{b:X2}",
            });
        }

        return bytes.Length > 300 ? $"{text}... ({bytes.Length} bytes)" : text.ToString();
    }

    private static string Trim(string text) => text.Length > 400 ? text[..400] + $"... ({text.Length} chars)" : text;

    private static string Tail(string text) => text.Length > 3000 ? "..." + text[^3000..] : text;

    // ----- the lines -----

    private sealed class Generator(Random random)
    {
        // Harmless code and the value it gives.
        private static readonly (string Code, string Output)[] s_codes =
        [
            ("0", "0"), ("'x'", "\"x\""), ("1+1", "2"), ("None", "null"), ("[1, 'a']", "[1, \"a\"]"), ("'\u00e9\u2713'", "\"\u00e9\u2713\""), ("-7", "-7"),
        ];

        private static readonly string[] s_globalNames = ["a", "b", "c1", "_x", "data", "value_2", "N"];

        private static readonly string[] s_unknownFields =
        [
            "Code", "CODE", "ID", "Id", "code ", " code", "timeout", "timeoutMs", "timeout-ms", "shutdown_", "globals2", "file", "readFiles",
            "read-files", "", " ", "x", "\\u0000", "\\n", "\\ud83d\\ude00", "\u00e9t\u00e9", "input", "args", "kwargs", "version", "jsonrpc", "method",
        ];

        private static readonly string[] s_hugeNumbers =
        [
            "1e400", "-1e400", "1E+400", "1e-400", "-1e-400", "0.0000000000000000000000000000000000000001", "123456789012345678901234567890.5e300",
            new string('9', 400), "-" + new string('9', 400), "1" + new string('0', 400), new string('7', 400) + ".5", "0." + new string('3', 400),
        ];

        private static readonly byte[][] s_invalidUtf8 =
        [
            [0xFF], [0xFE], [0xC0, 0xAF], [0xC1, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80],
            [0x80], [0xBF, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC3], [0xF0, 0x9F, 0x98], [0xE0, 0x80, 0x80], [0xFF, 0xFE, 0xFD],
        ];

        private const string Token = "~INJ~";

        private int _serial;

        private sealed record Request(List<(string Key, string Value)> Fields, string? IdRaw, string OutputRaw);

        public List<FuzzLine> Generate(int count)
        {
            var lines = new List<FuzzLine>
            {
                // A byte-order mark at the start of the stream is dropped.
                new("bom-at-start", [0xEF, 0xBB, 0xBF, .. "{\"id\": 0, \"code\": \"0\"}"u8], Expect.Output, IdRule.Equal, "0", "0"),
            };
            for (var i = 1; i <= count; i++)
            {
                lines.Add(i % 300 == 150 ? LongLine((i / 300) % 7) : Malformed());
                lines.Add(Valid(i));
            }

            for (var i = 0; i < lines.Count; i++)
            {
                lines[i] = Classify(lines[i], first: i == 0);
                lines[i].Index = i;
            }

            return lines;
        }

        // Applies the reader's rules that hold for every line, whatever it was meant to test.
        private static FuzzLine Classify(FuzzLine line, bool first)
        {
            if (line.Bytes.Length > MaxLineBytes)
            {
                return line with { Expect = Expect.Refusal, Rule = IdRule.Absent, ErrorContains = $"the request line exceeds {MaxLineBytes} bytes" };
            }

            ReadOnlySpan<byte> bytes = line.Bytes;
            if (first && bytes.StartsWith("\uFEFF"u8))
            {
                bytes = bytes[3..];
            }

            if (bytes.Trim(" \t\r"u8).IsEmpty)
            {
                return line with { Expect = Expect.Blank, Rule = IdRule.Unknown };
            }

            // A request without an id gets a reply without one.
            return line.Rule is IdRule.Equal or IdRule.EqualIfPresent && line.IdRaw is null ? line with { Rule = IdRule.Absent } : line;
        }

        private FuzzLine Valid(int n)
        {
            var text = random.Next(4) switch
            {
                0 => $"{{\"id\": {n}, \"code\": \"{n}\"}}",
                1 => $"{{\"code\":\"{n}\",\"id\":{n}}}",
                2 => $"  {{ \"id\" : {n} , \"code\" : \"{n}\" }}\t",
                _ => $"{{\"id\": {n}, \"code\": \"{n}\"}}\r",
            };
            return new FuzzLine("valid", Encoding.UTF8.GetBytes(text), Expect.Output, IdRule.Equal, $"{n}", $"{n}");
        }

        private FuzzLine Malformed()
        {
            var roll = random.Next(100);
            return roll switch
            {
                < 5 => RandomBytes(),
                < 9 => RandomJsonAlphabet(),
                < 18 => InvalidUtf8(),
                < 29 => LoneSurrogate(),
                < 38 => DuplicateKey(),
                < 44 => DeepNesting(),
                < 51 => HugeNumber(),
                < 62 => WrongType(),
                < 69 => Truncated(),
                < 73 => ByteOrderMark(),
                < 80 => CrLf(),
                < 86 => UnknownField(),
                < 90 => NotAnObject(),
                < 96 => ValidLooking(),
                _ => ByteFlips(),
            };
        }

        // ----- kinds -----

        private FuzzLine RandomBytes()
        {
            var bytes = new byte[random.Next(1, 300)];
            random.NextBytes(bytes);
            for (var i = 0; i < bytes.Length; i++)
            {
                if (bytes[i] == (byte)'\n')
                {
                    bytes[i] = (byte)random.Next(0x0B, 0x100);
                }
            }

            return new FuzzLine("random-bytes", bytes, Expect.Refusal, IdRule.Unknown, null);
        }

        // JSON's own characters, shuffled: reaches deeper into the parser than random bytes. No 'c', 'h' or 'i',
        // so it can never spell "code", "shutdown" or "id".
        private FuzzLine RandomJsonAlphabet()
        {
            const string alphabet = "{}[]\":, 0123456789-+.eEtruefalsn\\/ \t\r";
            var length = random.Next(1, 80);
            var text = new StringBuilder(length);
            for (var i = 0; i < length; i++)
            {
                text.Append(alphabet[random.Next(alphabet.Length)]);
            }

            return new FuzzLine("random-json-characters", Encoding.UTF8.GetBytes(text.ToString()), Expect.Refusal, IdRule.Unknown, null);
        }

        private FuzzLine InvalidUtf8()
        {
            var invalid = s_invalidUtf8[random.Next(s_invalidUtf8.Length)];
            if (random.Next(6) == 0)
            {
                // Anywhere in the line, inside a string or not.
                var line = Serialize(Template());
                var at = random.Next(line.Length + 1);
                return new FuzzLine("invalid-utf8-anywhere", [.. line.AsSpan(0, at), .. invalid, .. line.AsSpan(at)], Expect.Refusal, IdRule.Unknown, null);
            }

            var (request, slot, rule) = InjectIntoString();
            var bytes = Serialize(request);
            return new FuzzLine($"invalid-utf8-in-{slot}", Replace(bytes, Encoding.UTF8.GetBytes(Token), invalid), Expect.Refusal, rule, request.IdRaw);
        }

        private FuzzLine LoneSurrogate()
        {
            var (request, slot, rule) = InjectIntoString();
            var escape = random.Next(6) switch
            {
                0 => Escape(random.Next(0xD800, 0xDC00)),                                        // a high half at the end or before text
                1 => Escape(random.Next(0xDC00, 0xE000)),                                        // a low half alone
                2 => Escape(random.Next(0xD800, 0xDC00)) + "\\u0041",                            // high, then not a low half
                3 => Escape(random.Next(0xD800, 0xDC00)) + Escape(random.Next(0xD800, 0xDC00)), // two high halves
                4 => Escape(random.Next(0xDC00, 0xE000)) + Escape(random.Next(0xD800, 0xDC00)), // a pair the wrong way round
                _ => "\\ud83d\\ude00" + Escape(random.Next(0xDC00, 0xE000)),                     // a real pair, then a stray half
            };
            var line = Serialize(request);
            var text = Encoding.UTF8.GetString(line).Replace(Token, escape, StringComparison.Ordinal);
            return new FuzzLine($"lone-surrogate-in-{slot}", Encoding.UTF8.GetBytes(text), Expect.Refusal, rule, request.IdRaw, ErrorContains: "not valid Unicode");
        }

        // A request with the token in one of its strings: which string, and what the reply's id must be.
        private (Request Request, string Slot, IdRule Rule) InjectIntoString()
        {
            var request = Template();
            var slot = random.Next(12);
            switch (slot)
            {
                case 0:
                    Set(request, "code", Json("0" + Token));
                    return (request, "code", IdRule.Equal);
                case 1:
                    var id = Json("m" + Next() + Token);
                    Set(request, "id", id);
                    return (request with { IdRaw = null }, "id", IdRule.Absent);
                case 2:
                    Set(request, "globals", $"{{\"a\": 1, {Json(Pick(["", "b", "x_"]) + Token)}: 2}}");
                    return (request, "globals-key", IdRule.EqualIfPresent);
                case 3:
                    Set(request, "globals", $"{{\"a\": {Json("x" + Token + "y")}}}");
                    return (request, "globals-value", IdRule.Equal);
                case 4:
                    Set(request, "globals", $"{{\"a\": [1, {{\"k\": [\"ok\", {Json(Token)}]}}], \"b\": null}}");
                    return (request, "nested-globals-value", IdRule.Equal);
                case 5:
                    Set(request, "globals", $"{{\"a\": {{\"k\": {{{Json("n" + Token)}: true}}}}}}");
                    return (request, "nested-globals-key", IdRule.EqualIfPresent);
                case 6:
                    Set(request, "files", $"{{{Json("/data/" + Token + ".txt")}: \"aGk=\"}}");
                    return (request, "files-key", IdRule.EqualIfPresent);
                case 7:
                    Set(request, "files", $"{{\"/data/x.txt\": {Json("aGk=" + Token)}}}");
                    return (request, "files-value", IdRule.Equal);
                case 8:
                    Set(request, "read_files", $"[\"/out/a\", {Json("/out/" + Token)}]");
                    return (request, "read-files", IdRule.Equal);
                case 9:
                    Set(request, "timeout_ms", Json("1000" + Token));
                    return (request, "timeout-ms", IdRule.Equal);
                case 10:
                    Set(request, "shutdown", Json(Token));
                    return (request, "shutdown", IdRule.Equal);
                default:
                    request.Fields.Insert(random.Next(request.Fields.Count + 1), (Json("f" + Token), "1"));
                    return (request, "unknown-key", IdRule.EqualIfPresent);
            }
        }

        private FuzzLine DuplicateKey()
        {
            var request = Template();
            string where;
            var rule = IdRule.EqualIfPresent;
            switch (random.Next(8))
            {
                case 0:
                    // A field of the request, twice.
                    var (key, value) = request.Fields[random.Next(request.Fields.Count)];
                    request.Fields.Insert(random.Next(request.Fields.Count + 1), (key, random.Next(2) == 0 ? value : Json("0")));
                    where = "top-" + key.Trim('"');
                    if (key == "\"id\"")
                    {
                        rule = IdRule.Absent;
                    }

                    break;
                case 1:
                    // The same key spelled with an escape.
                    request.Fields.Add(("\"\\u0063ode\"", Json("0")));
                    where = "top-escaped-code";
                    break;
                case 2:
                    Ensure(request, "id", Json("d" + Next()));
                    request.Fields.Add(("\"id\"", Json("other" + Next())));
                    where = "top-id";
                    rule = IdRule.Absent;
                    break;
                case 3:
                    // Two shutdowns: refused as a duplicate, never a shutdown.
                    request.Fields.Add(("\"shutdown\"", "true"));
                    request.Fields.Insert(random.Next(request.Fields.Count), ("\"shutdown\"", Pick(["true", "false"])));
                    where = "top-shutdown";
                    break;
                case 4:
                    var name = Pick(s_globalNames);
                    Set(request, "globals", $"{{{Json(name)}: 1, \"other\": [1], {(random.Next(2) == 0 ? Json(name) : JsonEscaped(name))}: 2}}");
                    where = "globals";
                    break;
                case 5:
                    var inner = "{\"k\": 1, \"j\": 2, \"k\": 3}";
                    for (var depth = random.Next(1, 12); depth > 0; depth--)
                    {
                        inner = random.Next(2) == 0 ? $"[0, {inner}]" : $"{{\"n{depth}\": {inner}}}";
                    }

                    Set(request, "globals", $"{{\"a\": {inner}}}");
                    where = "nested-globals";
                    break;
                case 6:
                    Set(request, "files", "{\"/data/d.txt\": \"\", \"/data/e.txt\": \"aGk=\", \"/data/d.txt\": \"aGk=\"}");
                    where = "files";
                    break;
                default:
                    Set(request, "globals", "{\"a\": {\"b\": 1}, \"c1\": {\"b\": 2, \"\\u0062\": 3}}");
                    where = "globals-escaped";
                    break;
            }

            return new FuzzLine($"duplicate-key-{where}", Serialize(request), Expect.Refusal, rule, request.IdRaw, ErrorContains: "a key appears twice");
        }

        private FuzzLine DeepNesting()
        {
            if (random.Next(5) == 0)
            {
                // Deep, but within the parser's limit: read, then run or refused by the sandbox.
                var shallow = Template();
                Set(shallow, "globals", $"{{\"a\": {Nest(random.Next(1, 61))}}}");
                return new FuzzLine("nesting-within-limit", Serialize(shallow), Expect.Any, IdRule.Equal, shallow.IdRaw);
            }

            var request = Template();
            var nest = Nest(random.Next(100, 400));
            var slot = random.Next(8);
            switch (slot)
            {
                case 0:
                    Set(request, "globals", $"{{\"a\": {nest}}}");
                    break;
                case 1:
                    Set(request, "id", nest);
                    break;
                case 2:
                    Set(request, "code", nest);
                    break;
                case 3:
                    Set(request, "files", nest);
                    break;
                case 4:
                    Set(request, "read_files", nest);
                    break;
                case 5:
                    Set(request, "timeout_ms", nest);
                    break;
                case 6:
                    request.Fields.Add(("\"deep\"", nest));
                    break;
                default:
                    return new FuzzLine("deep-nesting-root", Encoding.UTF8.GetBytes(nest), Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
            }

            return new FuzzLine($"deep-nesting-{slot}", Serialize(request), Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
        }

        private string Nest(int depth)
        {
            var text = Pick(["0", "\"x\"", "null", "[]", "{}"]);
            for (var i = 0; i < depth; i++)
            {
                text = random.Next(2) == 0 ? $"[{text}]" : $"{{\"k\": {text}}}";
            }

            return text;
        }

        private FuzzLine HugeNumber()
        {
            var request = Template();
            var number = Pick(s_hugeNumbers);
            var field = Pick(["code", "globals", "nested-globals", "files", "read_files", "timeout_ms", "id", "shutdown"]);
            switch (field)
            {
                case "globals":
                    Set(request, "globals", $"{{\"a\": {number}}}");
                    return new FuzzLine("huge-number-globals", Serialize(request), Expect.Any, IdRule.Equal, request.IdRaw);
                case "nested-globals":
                    Set(request, "globals", $"{{\"a\": [1, {{\"b\": [{number}, {number}]}}]}}");
                    return new FuzzLine("huge-number-nested-globals", Serialize(request), Expect.Any, IdRule.Equal, request.IdRaw);
                case "files":
                    Set(request, "files", $"{{\"/data/n.bin\": {number}}}");
                    break;
                case "read_files":
                    Set(request, "read_files", $"[{number}]");
                    break;
                case "id":
                    // A number is a valid id, however big: echoed as it was sent.
                    Set(request, "id", number);
                    request = request with { IdRaw = number };
                    return new FuzzLine("huge-number-id", Serialize(request), Expect.Output, IdRule.Equal, number, request.OutputRaw);
                default:
                    Set(request, field, number);
                    break;
            }

            return new FuzzLine($"huge-number-{field}", Serialize(request), Expect.Refusal, IdRule.Equal, request.IdRaw);
        }

        private FuzzLine WrongType()
        {
            var request = Template();
            var (field, value, message) = random.Next(8) switch
            {
                0 => ("code", Pick(["1", "null", "true", "[]", "{}", "[\"0\"]", "{\"src\": \"0\"}", "-0"]), "\"code\" must be a string"),
                1 => ("globals", Pick(["[]", "[1, 2]", "\"a=1\"", "1", "null", "false"]), "\"globals\" must be an object"),
                2 => ("files", Pick(["[]", "[\"/data/x\"]", "\"/data/x\"", "0", "null", "true"]), "\"files\" must be an object"),
                3 => ("files", Pick(["{\"/data/x\": 1}", "{\"/data/x\": null}", "{\"/data/x\": []}", "{\"/data/x\": {}}", "{\"/data/x\": \"not base64!\"}", "{\"/data/x\": \"@@@@\"}", "{\"/data/x\": true}"]), "is not a base64 string"),
                4 => ("read_files", Pick(["\"/out/x\"", "{}", "{\"/out/x\": 1}", "1", "null", "true", "[1]", "[null]", "[[]]", "[{}]", "[\"/out/x\", false]"]), "\"read_files\" must be an array"),
                5 => ("timeout_ms", Pick(["\"1000\"", "true", "null", "[]", "{}", "0", "-1", "-0", "2001", "99999999999999999999", "1.5", "0.9", "1e400", "-1e400", "9223372036854775808"]), "\"timeout_ms\" must be a whole number"),
                6 => ("id", Pick(["{}", "[]", "true", "false", "{\"n\": 1}", "[1]", "[\"a\"]"]), "\"id\" must be a string, a number or null"),
                _ => ("shutdown", Pick(["\"true\"", "1", "0", "null", "[]", "{}", "\"yes\"", "[true]"]), "\"shutdown\" must be true or false"),
            };
            Set(request, field, value);
            if (field == "id")
            {
                // Refused for the id, so even a shutdown beside it is refused.
                if (random.Next(3) == 0)
                {
                    Set(request, "shutdown", "true");
                }

                return new FuzzLine("wrong-type-id", Serialize(request), Expect.Refusal, IdRule.Absent, null, ErrorContains: message);
            }

            return new FuzzLine($"wrong-type-{field}", Serialize(request), Expect.Refusal, IdRule.Equal, request.IdRaw, ErrorContains: message);
        }

        private FuzzLine Truncated()
        {
            var line = Serialize(Template());
            var at = random.Next(1, line.Length);
            return new FuzzLine("truncated", line[..at], Expect.Refusal, IdRule.Absent, null);
        }

        private FuzzLine ByteOrderMark()
        {
            var request = Template();
            var line = Serialize(request);
            byte[] bom = [0xEF, 0xBB, 0xBF];
            switch (random.Next(5))
            {
                case 0:
                    return new FuzzLine("bom-mid-stream", [.. bom, .. line], Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 1:
                    return new FuzzLine("bom-only", bom, Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 2:
                    return new FuzzLine("bom-after-the-object", [.. line, .. bom], Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 3:
                    // Between two tokens: not JSON whitespace.
                    return new FuzzLine("bom-between-tokens", [(byte)'{', .. bom, .. line.AsSpan(1)], Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                default:
                    // Inside a string it is just a character: the code is a string literal that holds it.
                    Set(request, "code", "\"'\uFEFFx'\"");
                    return new FuzzLine("bom-in-a-string", Serialize(request), Expect.Output, IdRule.Equal, request.IdRaw, "\"\uFEFFx\"");
            }
        }

        private FuzzLine CrLf()
        {
            var request = Template();
            var line = Serialize(request);
            switch (random.Next(12))
            {
                case 0:
                    return new FuzzLine("cr-alone", "\r"u8.ToArray(), Expect.Blank, IdRule.Unknown, null);
                case 1:
                    return new FuzzLine("crs-and-spaces", Encoding.ASCII.GetBytes(Pick(["\r\r", " \r", "\t\r \r", "   ", "\t", ""])), Expect.Blank, IdRule.Unknown, null);
                case 2:
                    return new FuzzLine("crlf-ending", [.. line, (byte)'\r'], Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
                case 3:
                    return new FuzzLine("two-crs-ending", [.. line, (byte)'\r', (byte)'\r'], Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
                case 4:
                    return new FuzzLine("cr-first", [(byte)'\r', .. line], Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
                case 5:
                    // CR as JSON whitespace between tokens.
                    var spaced = "{\r" + string.Join(",\r", request.Fields.Select(static f => f.Key + "\r:\r" + f.Value)) + "\r}";
                    return new FuzzLine("cr-between-tokens", Encoding.UTF8.GetBytes(spaced), Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
                case 6:
                    // A raw CR inside a string is a control character: not JSON.
                    Set(request, "code", "\"0\r\"");
                    return new FuzzLine("cr-in-a-string", Serialize(request), Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 7:
                    return new FuzzLine("form-feed-or-vertical-tab", Encoding.ASCII.GetBytes(Pick(["\f", "\v", " \f ", "\r\v"])), Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 8:
                    return new FuzzLine("nul-line", [0], Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 9:
                    return new FuzzLine("cr-then-text", "\r{"u8.ToArray(), Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                case 10:
                    // A lone CR between two requests does not split the line: two objects on one line.
                    return new FuzzLine("cr-between-two-objects", [.. line, (byte)'\r', .. line], Expect.Refusal, IdRule.Absent, null, ErrorContains: "not valid JSON");
                default:
                    return new FuzzLine("tabs-around", [(byte)'\t', .. line, (byte)'\t', (byte)'\r'], Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
            }
        }

        private FuzzLine UnknownField()
        {
            var request = Template();
            var name = Pick(s_unknownFields);
            request.Fields.Insert(random.Next(request.Fields.Count + 1), ($"\"{name}\"", Pick(["1", "null", "\"0\"", "{}", "[]", "true"])));
            if (random.Next(4) == 0)
            {
                // An unknown field makes even a shutdown request invalid.
                Set(request, "shutdown", "true");
            }

            return new FuzzLine("unknown-field", Serialize(request), Expect.Refusal, IdRule.Equal, request.IdRaw, ErrorContains: "unknown field \"");
        }

        private FuzzLine NotAnObject()
        {
            var template = Encoding.UTF8.GetString(Serialize(Template()));
            var text = Pick(
            [
                "[]", "[" + template + "]", "[[[]]]", Json(template), "\"code\"", "\"\"", "0", "-0", "123", "1e400", "-" + new string('1', 400), "null", "true", "false",
                "[{\"shutdown\": true}]", "\"{\\\"shutdown\\\": true}\"", "[1, \"a\", null, {}]",
            ]);
            return new FuzzLine("not-an-object", Encoding.UTF8.GetBytes(text), Expect.Refusal, IdRule.Absent, null, ErrorContains: "a request is a JSON object, not ");
        }

        private FuzzLine ValidLooking()
        {
            var request = Template();
            return new FuzzLine("valid-looking", Serialize(request), Expect.Output, IdRule.Equal, request.IdRaw, request.OutputRaw);
        }

        // A valid request with a few bytes changed: anything may come of it, but one reply.
        private FuzzLine ByteFlips()
        {
            var line = Serialize(Template());
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                var value = (byte)random.Next(0x100);
                line[random.Next(line.Length)] = value == (byte)'\n' ? (byte)'"' : value;
            }

            return new FuzzLine("byte-flips", line, Expect.Any, IdRule.Unknown, null);
        }

        private FuzzLine LongLine(int variant)
        {
            var id = Json("long" + Next());
            byte[] Padded(int length, string tail = "")
            {
                var head = $"{{\"id\": {id}, \"code\": \"0\"";
                return Encoding.UTF8.GetBytes(head + new string(' ', length - head.Length - 1 - tail.Length) + "}" + tail);
            }

            return variant switch
            {
                // Exactly the limit: read and run.
                0 => new FuzzLine("long-exactly-the-limit", Padded(MaxLineBytes), Expect.Output, IdRule.Equal, id, "0"),
                // One byte over: refused unread.
                1 => new FuzzLine("long-one-byte-over", Padded(MaxLineBytes + 1), Expect.Refusal, IdRule.Absent, null),
                // The limit with its CR: read and run.
                2 => new FuzzLine("long-the-limit-with-cr", Padded(MaxLineBytes, "\r"), Expect.Output, IdRule.Equal, id, "0"),
                3 => new FuzzLine("long-code", Encoding.UTF8.GetBytes($"{{\"id\": {id}, \"code\": \"'{new string('x', MaxLineBytes + random.Next(1, 5000))}'\"}}"), Expect.Refusal, IdRule.Absent, null),
                4 => new FuzzLine("long-spaces", Encoding.ASCII.GetBytes(new string(' ', MaxLineBytes + 100)), Expect.Refusal, IdRule.Absent, null),
                5 => new FuzzLine("long-random-bytes", LongRandomBytes(3 * MaxLineBytes), Expect.Refusal, IdRule.Absent, null),
                _ => new FuzzLine("long-file", Encoding.UTF8.GetBytes($"{{\"id\": {id}, \"code\": \"0\", \"files\": {{\"/data/big\": \"{new string('A', MaxLineBytes)}\"}}}}"), Expect.Refusal, IdRule.Absent, null),
            };
        }

        private byte[] LongRandomBytes(int length)
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);
            bytes.AsSpan().Replace((byte)'\n', (byte)'x');
            return bytes;
        }

        // ----- valid requests to start from -----

        private Request Template()
        {
            var (code, output) = s_codes[random.Next(s_codes.Length)];
            var fields = new List<(string Key, string Value)> { ("\"code\"", Json(code)) };
            string? id = null;
            if (random.Next(10) != 0)
            {
                id = NewId();
                fields.Add(("\"id\"", id));
            }

            if (random.Next(3) == 0)
            {
                fields.Add(("\"globals\"", Globals()));
            }

            if (random.Next(5) == 0)
            {
                var count = random.Next(1, 3);
                fields.Add(("\"files\"", "{" + string.Join(", ", Enumerable.Range(0, count).Select(k => $"\"/data/fz{k}.bin\": \"{Convert.ToBase64String(RandomSmallBytes())}\"")) + "}"));
            }

            if (random.Next(6) == 0)
            {
                fields.Add(("\"read_files\"", Pick(["[\"/data/fz0.bin\"]", "[\"/out/none.txt\"]", "[]", "[\"/data/fz0.bin\", \"/data/fz1.bin\"]"])));
            }

            if (random.Next(6) == 0)
            {
                fields.Add(("\"timeout_ms\"", random.Next(1000, ServerTimeoutMs + 1).ToString(CultureInfo.InvariantCulture)));
            }

            if (random.Next(10) == 0)
            {
                fields.Add(("\"shutdown\"", "false"));
            }

            // Any order: the id need not come first in a request.
            for (var i = fields.Count - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (fields[i], fields[j]) = (fields[j], fields[i]);
            }

            return new Request(fields, id, output);
        }

        private string NewId() => random.Next(8) switch
        {
            0 or 1 => (1_000_000 + Next()).ToString(CultureInfo.InvariantCulture),
            2 => "-" + Next().ToString(CultureInfo.InvariantCulture),
            3 => Next().ToString(CultureInfo.InvariantCulture) + ".25",
            4 => $"\"m{Next()}\\u00e9\\ud83d\\ude00\"",
            5 => Json($"m{Next()}-\u00e9\u2713 \"q\""),
            6 => "null",
            _ => Json("m" + Next()),
        };

        private string Globals()
        {
            var names = s_globalNames.OrderBy(_ => random.Next()).Take(random.Next(1, 4));
            return "{" + string.Join(", ", names.Select(n => $"{Json(n)}: {Value(random.Next(3))}")) + "}";
        }

        // A small JSON value any sandbox accepts as a global.
        private string Value(int depth)
        {
            var pick = random.Next(depth > 0 ? 9 : 7);
            return pick switch
            {
                0 => "null",
                1 => Pick(["true", "false"]),
                2 => random.Next(-1000, 1000).ToString(CultureInfo.InvariantCulture),
                3 => Pick(["1.5", "-0.25", "1e10", "3.0E-5", "0"]),
                4 => Json(Pick(["", "x", "caf\u00e9", "\U0001F600", "a\"b\\c", "line\nbreak", "\0nul"])),
                5 => Pick(["\"\\ud83d\\ude00\"", "\"\\u00e9\\t\"", "\"\\/\""]),
                6 => Pick(["[]", "{}"]),
                7 => "[" + string.Join(", ", Enumerable.Range(0, random.Next(1, 4)).Select(_ => Value(depth - 1))) + "]",
                _ => "{" + string.Join(", ", Enumerable.Range(0, random.Next(1, 3)).Select(k => $"\"k{k}\": {Value(depth - 1)}")) + "}",
            };
        }

        private byte[] RandomSmallBytes()
        {
            var bytes = new byte[random.Next(0, 30)];
            random.NextBytes(bytes);
            return bytes;
        }

        private byte[] Serialize(Request request)
        {
            var (separator, colon, open, close) = random.Next(3) switch
            {
                0 => (",", ":", "{", "}"),
                1 => (", ", ": ", "{", "}"),
                _ => (" ,\t", " : ", "{ ", " }"),
            };
            return Encoding.UTF8.GetBytes(open + string.Join(separator, request.Fields.Select(f => f.Key + colon + f.Value)) + close);
        }

        private static void Set(Request request, string field, string value)
        {
            var key = $"\"{field}\"";
            var at = request.Fields.FindIndex(f => f.Key == key);
            if (at >= 0)
            {
                request.Fields[at] = (key, value);
            }
            else
            {
                request.Fields.Add((key, value));
            }
        }

        private static void Ensure(Request request, string field, string value)
        {
            if (!request.Fields.Exists(f => f.Key == $"\"{field}\""))
            {
                request.Fields.Insert(0, ($"\"{field}\"", value));
            }
        }

        private int Next() => ++_serial;

        private T Pick<T>(T[] choices) => choices[random.Next(choices.Length)];

        private string Escape(int codeUnit) =>
            random.Next(2) == 0 ? $"\\u{codeUnit:x4}" : $"\\u{codeUnit:X4}";

        private static string Json(string text) => JsonSerializer.Serialize(text, s_json);

        // Every character as a \u escape: the same key to a JSON reader, other bytes on the line.
        private static string JsonEscaped(string text) => "\"" + string.Concat(text.Select(static c => $"\\u{(int)c:x4}")) + "\"";

        private static byte[] Replace(byte[] bytes, byte[] find, byte[] replacement)
        {
            var at = bytes.AsSpan().IndexOf(find);
            Assert.True(at >= 0, "the fuzz token was not in the line");
            return [.. bytes.AsSpan(0, at), .. replacement, .. bytes.AsSpan(at + find.Length)];
        }
    }
}
