using System.Diagnostics;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>Globals in, files in and out, on one shared sandbox (each test uses names and paths of its own).</summary>
[Collection(nameof(SharedSandboxCollection))]
public sealed class DataInOutTests(SharedSandbox shared, ITestOutputHelper output)
{
    private PythonSandbox Sandbox => shared.Sandbox;

    private static Dictionary<string, object?> Globals(params (string Name, object? Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);

    private static Dictionary<string, ReadOnlyMemory<byte>> Files(params (string Path, byte[] Bytes)[] files) =>
        files.ToDictionary(f => f.Path, f => (ReadOnlyMemory<byte>)f.Bytes);

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_Globals_ArriveAsPythonValuesOfTheRightType()
    {
        var inputs = new RunInputs
        {
            Globals = Globals(
                ("g_big", BigInteger.Pow(2, 100)),
                ("g_neg", -BigInteger.Pow(10, 30)),
                ("g_text", "héllo ✓ 😀"),
                ("g_float", 1.0),
                ("g_none", null),
                ("g_flag", true),
                ("g_list", new object?[] { 1, "two", 3.5, null }),
                ("g_dict", new Dictionary<string, object?> { ["k"] = new List<int> { 1, 2 }, ["ü"] = false })),
        };

        var result = await Sandbox.RunAsync(
            "[g_big == 2**100, g_neg == -10**30, g_text == 'héllo ✓ \\U0001F600', type(g_float).__name__, g_none is None, g_flag is True,\n"
            + " g_list == [1, 'two', 3.5, None], g_dict == {'k': [1, 2], 'ü': False}, g_big]", inputs);

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.Equal("""[true,true,true,"float",true,true,true,true,1267650600228229401496703205376]""", Normalize(result.Value!.Value));
        Assert.Equal(BigInteger.Pow(2, 100), BigInteger.Parse(result.Value.Value[8].GetRawText(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_GlobalsFromJsonElementAndJsonNode_ArriveAsPythonValues()
    {
        using var document = JsonDocument.Parse("""{"rows": [{"id": 1, "score": 2.5}, {"id": 123456789012345678901234567890, "score": null}]}""");
        var node = new JsonObject { ["name"] = "ä", ["tags"] = new JsonArray("a", "b") };

        var result = await Sandbox.RunAsync("[je_doc['rows'][1]['id'] == 123456789012345678901234567890, je_doc['rows'][0]['score'], je_node]",
            new RunInputs { Globals = Globals(("je_doc", document.RootElement), ("je_node", node)) });

        Assert.Equal("""[true,2.5,{"name":"ä","tags":["a","b"]}]""", Normalize(result.Value!.Value));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_Globals_ReplaceEarlierValuesAndStayForLaterRuns()
    {
        await Sandbox.RunAsync("g_kept = 'old'");

        var first = await Sandbox.RunAsync("g_kept", new RunInputs { Globals = Globals(("g_kept", "new")) });
        var later = await Sandbox.RunAsync("g_kept");

        Assert.Equal("new", first.Value!.Value.GetString());
        Assert.Equal("new", later.Value!.Value.GetString());
    }

    [Theory(Timeout = TestOptions.TestTimeoutMs)]
    [InlineData("__builtins__")]
    [InlineData("__name__")]
    [InlineData("__import__")]
    [InlineData("class")]
    [InlineData("not-an-identifier")]
    public async Task RunAsync_GlobalNameNotAPlainIdentifier_ThrowsAndRunsNothing(string name)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            Sandbox.RunAsync("g_name_ran = True", new RunInputs { Globals = Globals((name, 1)) }));

        Assert.Contains($"'{name}'", e.Message, StringComparison.Ordinal);
        var state = await Sandbox.RunAsync("['g_name_ran' in globals(), type(__builtins__).__name__, __name__]");
        Assert.Equal("""[false,"module","__main__"]""", Normalize(state.Value!.Value));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_GlobalNotJson_ThrowsNamingTheKey()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Sandbox.RunAsync("1", new RunInputs
        {
            Globals = Globals(("fine", 1), ("when", DateTime.UtcNow)),
        }));

        Assert.Contains("'when'", e.Message, StringComparison.Ordinal);
        Assert.Contains("DateTime", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_GlobalsPastMaxCodeBytes_AreRefusedUnrun()
    {
        var result = await Sandbox.RunAsync("g_huge_ran = True", new RunInputs { Globals = Globals(("g_huge", new string('x', 2 * 1024 * 1024))) });

        Assert.Equal(SandboxLimit.CodeSize, result.Limit);
        Assert.Equal("ValueError", result.Error!.TypeName);
        Assert.Contains("globals", result.Error.Message, StringComparison.Ordinal);
        Assert.False((await Sandbox.RunAsync("'g_huge_ran' in globals()")).Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_CsvIn_PngOut_ReadBackExactly()
    {
        var csv = "label,value\nmon,10\ntue,200\nwed,300\nthu,42\n"u8.ToArray();
        const string code = """
            import csv, struct, zlib
            with open('/data/sales/week.csv', newline='') as f:
                values = [int(row['value']) for row in csv.DictReader(f)]

            def chunk(kind, data):
                return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

            pixels = b'\x00' + bytes(min(255, v) for v in values)   # one row, filter 0, 8-bit grey
            png = (b'\x89PNG\r\n\x1a\n'
                   + chunk(b'IHDR', struct.pack('>IIBBBBB', len(values), 1, 8, 0, 0, 0, 0))
                   + chunk(b'IDAT', zlib.compress(pixels))
                   + chunk(b'IEND', b''))
            with open('/out/plot.png', 'wb') as f:
                f.write(png)
            sum(values)
            """;

        var result = await Sandbox.RunAsync(code, new RunInputs { Files = Files(("/data/sales/week.csv", csv)), ReadFiles = ["/out/plot.png"] });

        Assert.True(result.Succeeded, result.Error?.Traceback);
        Assert.Equal(552, result.Value!.Value.GetInt32());
        Assert.Empty(result.FileErrors);
        var png = result.Files["/out/plot.png"].ToArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10 }, png[..8]);
        var chunks = ReadPngChunks(png);
        Assert.Equal(["IHDR", "IDAT", "IEND"], chunks.Select(c => c.Kind));
        Assert.Equal(4, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(chunks[0].Data));
        using var inflater = new ZLibStream(new MemoryStream(chunks[1].Data), CompressionMode.Decompress);
        using var pixels = new MemoryStream();
        inflater.CopyTo(pixels);
        Assert.Equal(new byte[] { 0, 10, 200, 255, 42 }, pixels.ToArray());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_MissingAndOddFiles_AreFileErrorsAndTheResultIsKept()
    {
        var result = await Sandbox.RunAsync("import os\nos.makedirs('/out/odd_dir', exist_ok=True)\nopen('/out/odd_ok.txt', 'w').write('ok')\n'value kept'",
            new RunInputs { ReadFiles = ["/out/odd_missing.txt", "/out/odd_dir", "/out/no_such_dir/x", "/out/odd_ok.txt"] });

        Assert.Equal("value kept", result.Value!.Value.GetString());
        Assert.Equal("ok", Encoding.UTF8.GetString(result.Files["/out/odd_ok.txt"].Span));
        Assert.Equal("no such file", result.FileErrors["/out/odd_missing.txt"]);
        Assert.Equal("it is a folder", result.FileErrors["/out/odd_dir"]);
        Assert.Equal("no such file", result.FileErrors["/out/no_such_dir/x"]);
        Assert.Single(result.Files);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_PythonErrorAfterWriting_StillReturnsTheFiles()
    {
        var result = await Sandbox.RunAsync("open('/out/partial.txt', 'w').write('half')\n1/0", new RunInputs { ReadFiles = ["/out/partial.txt"] });

        Assert.Equal("ZeroDivisionError", result.Error!.TypeName);
        Assert.Equal("half", Encoding.UTF8.GetString(result.Files["/out/partial.txt"].Span));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_FilesWritten_ReplaceEarlierOnesAndCanBeImportedFromHome()
    {
        await Sandbox.RunAsync("None", new RunInputs { Files = Files(("/tmp/replace_me.txt", "first, longer"u8.ToArray())) });
        var result = await Sandbox.RunAsync("import helper_mod\n[open('/tmp/replace_me.txt').read(), helper_mod.VALUE]", new RunInputs
        {
            Files = Files(("/tmp/replace_me.txt", "second"u8.ToArray()), ("/home/pyodide/helper_mod.py", "VALUE = 7\n"u8.ToArray())),
        });

        Assert.Equal("""["second",7]""", Normalize(result.Value!.Value));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_EmptyFileAndUnicodePath_RoundTrip()
    {
        var result = await Sandbox.RunAsync("import os\nopen('/out/résumé ✓.txt', 'wb').write('é'.encode())\nos.path.getsize('/data/empty.bin')",
            new RunInputs { Files = Files(("/data/empty.bin", [])), ReadFiles = ["/data/empty.bin", "/out/résumé ✓.txt"] });

        Assert.Equal(0, result.Value!.Value.GetInt32());
        Assert.Equal(0, result.Files["/data/empty.bin"].Length);
        Assert.Equal("é", Encoding.UTF8.GetString(result.Files["/out/résumé ✓.txt"].Span));
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_FilesPastMaxFileBytes_AreRefusedUnrun()
    {
        var tooBig = new byte[(int)Sandbox.Options.MaxFileBytes + 1];

        var result = await Sandbox.RunAsync("g_files_ran = True", new RunInputs { Files = Files(("/data/too_big.bin", tooBig)) });

        Assert.Equal(SandboxLimit.FileSize, result.Limit);
        Assert.Equal("OSError", result.Error!.TypeName);
        Assert.False((await Sandbox.RunAsync("import os\n'g_files_ran' in globals() or os.path.exists('/data/too_big.bin')")).Value!.Value.GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task RunAsync_TenMebibytes_RoundTripExactly()
    {
        var bytes = new byte[10 * 1024 * 1024];
        new Random(7).NextBytes(bytes);
        var expectedHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

        var clock = Stopwatch.StartNew();
        var write = await Sandbox.RunAsync("import hashlib\nhashlib.sha256(open('/data/ten.bin', 'rb').read()).hexdigest()",
            new RunInputs { Files = Files(("/data/ten.bin", bytes)) });
        var writeTime = clock.Elapsed;
        clock.Restart();
        var read = await Sandbox.RunAsync("None", new RunInputs { ReadFiles = ["/data/ten.bin"] });
        var readTime = clock.Elapsed;
        await Sandbox.RunAsync("import os\nos.remove('/data/ten.bin')");

        Assert.Equal(expectedHash, write.Value!.Value.GetString());
        Assert.True(read.Files["/data/ten.bin"].Span.SequenceEqual(bytes));
        output.WriteLine($"10 MiB in (+ Python reads and hashes it): {writeTime.TotalMilliseconds:F0} ms; out: {readTime.TotalMilliseconds:F0} ms");
    }

    private static List<(string Kind, byte[] Data)> ReadPngChunks(byte[] png)
    {
        var chunks = new List<(string, byte[])>();
        for (var at = 8; at < png.Length;)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            var kind = Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, length).ToArray();
            var crc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            Assert.Equal(Crc32(png.AsSpan(at + 4, 4 + length)), crc);
            chunks.Add((kind, data));
            at += 12 + length;
        }

        return chunks;
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }

    private static readonly JsonSerializerOptions s_readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Normalize(JsonElement value) => JsonSerializer.Serialize(value, s_readable);
}
