using System.Text;
using System.Text.Json;
using PyodideEmbedded.Cli;

namespace PyodideEmbedded.Tests;

/// <summary>
/// The <c>serve</c> request parser on its own: what a line must be to be run, and what every refusal says.
/// Lone surrogates are written as JSON escapes (<c>\ud800</c>) in raw string literals, as a client would send them.
/// </summary>
public sealed class ServeRequestTests
{
    private static readonly TimeSpan s_maxTimeout = TimeSpan.FromMilliseconds(2000);

    // ----- valid requests -----

    [Fact]
    public void TryParse_EveryField_ReadsEachIntoTheRequest()
    {
        var ok = Parse(
            """{"id": "r1", "code": "x + 1", "globals": {"x": 41, "data": {"list": [1, "two", null, true], "f": 1.5}}, "files": {"/data/in.txt": "aGk="}, "read_files": ["/out/a.txt", "/out/b"], "timeout_ms": 1500, "shutdown": false}""",
            out var request, out var error, out var id);

        Assert.True(ok, error);
        Assert.Equal("", error);
        Assert.Equal("x + 1", request.Code);
        Assert.False(request.Shutdown);
        Assert.Equal("r1", request.Id!.Value.GetString());
        Assert.Equal("r1", id!.Value.GetString());
        var inputs = request.Inputs!;
        Assert.Equal(["data", "x"], inputs.Globals!.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("41", Assert.IsType<JsonElement>(inputs.Globals["x"]).GetRawText());
        var data = Assert.IsType<JsonElement>(inputs.Globals["data"]);
        Assert.Equal("""{"list": [1, "two", null, true], "f": 1.5}""", data.GetRawText());
        Assert.Equal("/data/in.txt", Assert.Single(inputs.Files!).Key);
        Assert.Equal("hi"u8.ToArray(), inputs.Files!["/data/in.txt"].ToArray());
        Assert.Equal(["/out/a.txt", "/out/b"], inputs.ReadFiles!);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), inputs.Timeout);
    }

    [Fact]
    public void TryParse_GlobalsOutliveTheLine_TheyAreCopies()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"code": "1", "globals": {"s": "kept"}}""");

        Assert.True(ServeRequest.TryParse(bytes, s_maxTimeout, out var request, out var error, out _), error);
        Array.Clear(bytes);

        Assert.Equal("kept", Assert.IsType<JsonElement>(request.Inputs!.Globals!["s"]).GetString());
    }

    [Fact]
    public void TryParse_CodeOnly_HasNoInputsAndNoId()
    {
        Assert.True(Parse("""{"code": "print('hi')"}""", out var request, out var error, out var id), error);

        Assert.Equal("print('hi')", request.Code);
        Assert.Null(request.Inputs);
        Assert.Null(request.Id);
        Assert.Null(id);
        Assert.False(request.Shutdown);
    }

    [Theory]
    [InlineData("""{"code": "\ud83d\ude00 \u00e9"}""", "\U0001F600 \u00e9")]
    [InlineData("""{"code": "a\"b\\c\n\t\u0000"}""", "a\"b\\c\n\t\0")]
    [InlineData("""{"code": ""}""", "")]
    [InlineData(" \t\r{\"code\":\r\"0\"}\r\t ", "0")]
    public void TryParse_ValidText_IsUnescaped(string line, string code)
    {
        Assert.True(Parse(line, out var request, out var error, out _), error);

        Assert.Equal(code, request.Code);
    }

    [Fact]
    public void TryParse_RawMultiByteUtf8_IsRead()
    {
        Assert.True(Parse("{\"code\": \"'h\u00e9llo \u2713 \U0001F600'\", \"globals\": {\"s\": \"\u4e2d\"}}", out var request, out var error, out _), error);

        Assert.Equal("'h\u00e9llo \u2713 \U0001F600'", request.Code);
        Assert.Equal("\u4e2d", Assert.IsType<JsonElement>(request.Inputs!.Globals!["s"]).GetString());
    }

    [Fact]
    public void TryParse_EmptyCollections_AreKeptEmpty()
    {
        Assert.True(Parse("""{"code": "0", "globals": {}, "files": {}, "read_files": []}""", out var request, out var error, out _), error);

        Assert.Empty(request.Inputs!.Globals!);
        Assert.Empty(request.Inputs.Files!);
        Assert.Empty(request.Inputs.ReadFiles!);
        Assert.Null(request.Inputs.Timeout);
    }

    // ----- duplicate keys -----

    [Theory]
    [InlineData("""{"code": "1", "code": "2"}""")]
    [InlineData("""{"code": "1", "timeout_ms": 5, "timeout_ms": 6}""")]
    [InlineData("""{"shutdown": false, "code": "1", "shutdown": true}""")]
    [InlineData("""{"code": "1", "\u0063ode": "2"}""")]
    [InlineData("""{"code": "1", "globals": {"a": 1, "a": 2}}""")]
    [InlineData("""{"code": "1", "globals": {"a": 1, "b": 2, "\u0061": 3}}""")]
    [InlineData("""{"code": "1", "globals": {"a": {"b": [1, {"c": {"d": 1, "e": {}, "d": 2}}]}}}""")]
    [InlineData("""{"code": "1", "globals": {"a": [[[[[[[[{"x": 1, "x": 1}]]]]]]]]}}""")]
    [InlineData("""{"code": "1", "files": {"/data/x": "", "/data/x": "aGk="}}""")]
    [InlineData("""{"code": "1", "files": {"/data/x": "", "/data/\u0078": ""}}""")]
    public void TryParse_DuplicateKey_IsRefused(string line)
    {
        Assert.False(Parse(line, out _, out var error, out _));

        Assert.StartsWith("a key appears twice in one object", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_DuplicateId_IsRefusedWithoutAnId()
    {
        Assert.False(Parse("""{"id": 1, "code": "1", "id": 2}""", out _, out var error, out var id));

        Assert.StartsWith("a key appears twice in one object", error, StringComparison.Ordinal);
        Assert.Null(id);
    }

    [Theory]
    [InlineData("""{"code": "1", "globals": {"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}}""")]
    [InlineData("""{"code": "1", "globals": {"code": "x", "id": 1}, "files": {"code": ""}}""")]
    [InlineData("""{"code": "1", "globals": {"A": 1, "a": 2}}""")]
    public void TryParse_SameKeyInDifferentObjects_IsAccepted(string line)
    {
        Assert.True(Parse(line, out _, out var error, out _), error);
    }

    // ----- lone surrogates and invalid UTF-8 -----

    [Theory]
    [InlineData("""{"id": 7, "code": "a\ud800"}""", "code")]
    [InlineData("""{"id": 7, "code": "\udc00"}""", "code")]
    [InlineData("""{"id": 7, "code": "\ud800\u0041"}""", "code")]
    [InlineData("""{"id": 7, "code": "\udc00\ud800"}""", "code")]
    [InlineData("""{"id": 7, "code": "\ud83d\ud83d"}""", "code")]
    [InlineData("""{"id": 7, "code": "1", "globals": {"a": "\udfff"}}""", "globals.a")]
    [InlineData("""{"id": 7, "code": "1", "globals": {"a": {"b": [1, ["x", {"c": "y\ud800"}]]}}}""", "globals.a.b[1][1].c")]
    [InlineData("""{"id": 7, "code": "1", "files": {"/data/x": "\ud800"}}""", "files./data/x")]
    [InlineData("""{"id": 7, "code": "1", "read_files": ["/out/a", "/out/\ud800"]}""", "read_files[1]")]
    [InlineData("""{"id": 7, "code": "1", "timeout_ms": "\ud800"}""", "timeout_ms")]
    public void TryParse_LoneSurrogateInAString_IsRefusedNamingWhereAndKeepsTheId(string line, string where)
    {
        Assert.False(Parse(line, out _, out var error, out var id));

        Assert.Equal($"the string at {where} is not valid Unicode (invalid UTF-8 or a lone surrogate)", error);
        Assert.Equal("7", id!.Value.GetRawText());
    }

    [Theory]
    [InlineData("""{"code": "1", "globals": {"\ud800": 1}}""")]
    [InlineData("""{"code": "1", "globals": {"ok": 1, "\udc00x": 2}}""")]
    [InlineData("""{"code": "1", "globals": {"a": [{"b": {"\ud800": 1}}]}}""")]
    [InlineData("""{"code": "1", "files": {"/data/\ud800": ""}}""")]
    [InlineData("""{"code": "1", "files": {"/data/a": "", "/data/\udfff": "aGk="}}""")]
    [InlineData("""{"\ud800": 1, "code": "1"}""")]
    [InlineData("""{"id": 7, "code": "1", "globals": {"\ud800": 1, "\ud800": 2}}""")]
    public void TryParse_LoneSurrogateInAKey_IsRefused(string line)
    {
        Assert.False(Parse(line, out _, out var error, out var id));

        Assert.Contains("not valid Unicode", error, StringComparison.Ordinal);
        Assert.Contains("lone surrogate", error, StringComparison.Ordinal);
        // The id may be echoed only as it was sent.
        Assert.True(id is null || id.Value.GetRawText() == "7", id?.GetRawText());
    }

    [Theory]
    [InlineData("""{"id": "\ud800", "code": "1"}""")]
    [InlineData("""{"id": "req-\udc00", "code": "1"}""")]
    [InlineData("""{"code": "1", "id": "\udbff\udbff"}""")]
    public void TryParse_LoneSurrogateInTheId_IsRefusedWithoutEchoingIt(string line)
    {
        Assert.False(Parse(line, out _, out var error, out var id));

        Assert.Equal("the string at id is not valid Unicode (invalid UTF-8 or a lone surrogate)", error);
        Assert.Null(id);
    }

    public static TheoryData<byte[], string> InvalidUtf8InStrings => new()
    {
        { Bytes("{\"id\": 7, \"code\": \"a", [0xFF], "b\"}"), "code" },
        { Bytes("{\"id\": 7, \"code\": \"", [0xC0, 0xAF], "\"}"), "code" },             // overlong '/'
        { Bytes("{\"id\": 7, \"code\": \"", [0xED, 0xA0, 0x80], "\"}"), "code" },       // a surrogate, encoded
        { Bytes("{\"id\": 7, \"code\": \"", [0xE2, 0x82], "\"}"), "code" },             // cut short
        { Bytes("{\"id\": 7, \"code\": \"", [0xF4, 0x90, 0x80, 0x80], "\"}"), "code" }, // past U+10FFFF
        { Bytes("{\"id\": 7, \"code\": \"", [0x80], "\"}"), "code" },                   // a lone continuation byte
        { Bytes("{\"id\": 7, \"code\": \"1\", \"globals\": {\"a\": [\"", [0xFE], "\"]}}"), "globals.a[0]" },
        { Bytes("{\"id\": 7, \"code\": \"1\", \"files\": {\"/data/x\": \"", [0xFF], "\"}}"), "files./data/x" },
        { Bytes("{\"id\": 7, \"code\": \"1\", \"read_files\": [\"/out/", [0xC3], "\"]}"), "read_files[0]" },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8InStrings))]
    public void TryParse_InvalidUtf8InAString_IsRefusedNamingWhereAndKeepsTheId(byte[] line, string where)
    {
        Assert.False(ServeRequest.TryParse(line, s_maxTimeout, out _, out var error, out var id));

        Assert.Equal($"the string at {where} is not valid Unicode (invalid UTF-8 or a lone surrogate)", error);
        Assert.Equal("7", id!.Value.GetRawText());
    }

    public static TheoryData<byte[]> InvalidUtf8Elsewhere => new()
    {
        Bytes("{\"code\": \"1\", \"globals\": {\"", [0xFF], "\": 1}}"),
        Bytes("{\"code\": \"1\", \"files\": {\"/data/", [0xC0, 0x80], "\": \"\"}}"),
        Bytes("{\"", [0xFF], "\": 1, \"code\": \"1\"}"),
        Bytes("{\"code\": \"1\", \"globals\": {\"", [0xFF], "\": 1, \"", [0xFE], "\": 2}}"),
        Bytes("{\"id\": \"", [0xFF], "\", \"code\": \"1\"}"),
        Bytes("{\"code\": \"1\"}", [0xFF], ""),
        Bytes("", [0xFF, 0xFE], "{\"code\": \"1\"}"),
        Bytes("{\"code\": ", [0xC3, 0xA9], "}"),
        Bytes("", [0xEF, 0xBB, 0xBF], "{\"code\": \"1\"}"), // a byte-order mark is the stream's business, not a line's
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8Elsewhere))]
    public void TryParse_InvalidUtf8InAKeyOrOutsideStrings_IsRefusedWithoutAnId(byte[] line)
    {
        Assert.False(ServeRequest.TryParse(line, s_maxTimeout, out _, out var error, out var id));

        Assert.NotEmpty(error);
        Assert.Null(id);
        AssertPlainMessage(error);
    }

    // ----- types, fields and values -----

    [Theory]
    [InlineData("""{"code": 1}""", "\"code\" must be a string, not a number")]
    [InlineData("""{"code": null}""", "\"code\" must be a string, not null")]
    [InlineData("""{"code": ["print(1)"]}""", "\"code\" must be a string, not an array")]
    [InlineData("""{"code": {"src": "1"}}""", "\"code\" must be a string, not an object")]
    [InlineData("""{"code": true}""", "\"code\" must be a string, not a boolean")]
    [InlineData("""{"code": 1e400}""", "\"code\" must be a string, not a number")]
    [InlineData("""{"code": "1", "globals": [1, 2]}""", "\"globals\" must be an object of names to values, not an array")]
    [InlineData("""{"code": "1", "globals": "{}"}""", "\"globals\" must be an object of names to values, not a string")]
    [InlineData("""{"code": "1", "globals": null}""", "\"globals\" must be an object of names to values, not null")]
    [InlineData("""{"code": "1", "globals": 1e400}""", "\"globals\" must be an object of names to values, not a number")]
    [InlineData("""{"code": "1", "files": ["/data/x"]}""", "\"files\" must be an object of sandbox paths to base64 contents, not an array")]
    [InlineData("""{"code": "1", "files": false}""", "\"files\" must be an object of sandbox paths to base64 contents, not a boolean")]
    [InlineData("""{"code": "1", "files": {"/data/x": 12}}""", "\"files\": the content of '/data/x' is not a base64 string")]
    [InlineData("""{"code": "1", "files": {"/data/x": null}}""", "\"files\": the content of '/data/x' is not a base64 string")]
    [InlineData("""{"code": "1", "files": {"/data/x": ["aGk="]}}""", "\"files\": the content of '/data/x' is not a base64 string")]
    [InlineData("""{"code": "1", "files": {"/data/x": "not base64!"}}""", "\"files\": the content of '/data/x' is not a base64 string")]
    [InlineData("""{"code": "1", "files": {"/data/\u0001x": 1}}""", "\"files\": the content of '/data/?x' is not a base64 string")]
    [InlineData("""{"code": "1", "read_files": "/out/x"}""", "\"read_files\" must be an array of sandbox paths (strings)")]
    [InlineData("""{"code": "1", "read_files": {"/out/x": 1}}""", "\"read_files\" must be an array of sandbox paths (strings)")]
    [InlineData("""{"code": "1", "read_files": ["/out/x", 1]}""", "\"read_files\" must be an array of sandbox paths (strings)")]
    [InlineData("""{"code": "1", "read_files": [null]}""", "\"read_files\" must be an array of sandbox paths (strings)")]
    [InlineData("""{"code": "1", "read_files": [["/out/x"]]}""", "\"read_files\" must be an array of sandbox paths (strings)")]
    [InlineData("""{"code": "1", "timeout_ms": "100"}""", "\"timeout_ms\" must be a whole number of milliseconds from 1 to 2000 (the server's --timeout-ms)")]
    [InlineData("""{"code": "1", "timeout_ms": null}""", "\"timeout_ms\" must be a whole number of milliseconds from 1 to 2000 (the server's --timeout-ms)")]
    [InlineData("""{"code": "1", "timeout_ms": [100]}""", "\"timeout_ms\" must be a whole number of milliseconds from 1 to 2000 (the server's --timeout-ms)")]
    [InlineData("""{"code": "1", "shutdown": "true"}""", "\"shutdown\" must be true or false, not a string")]
    [InlineData("""{"code": "1", "shutdown": 1}""", "\"shutdown\" must be true or false, not a number")]
    [InlineData("""{"shutdown": null}""", "\"shutdown\" must be true or false, not null")]
    [InlineData("""{"shutdown": {}}""", "\"shutdown\" must be true or false, not an object")]
    [InlineData("""{"shutdown": [true]}""", "\"shutdown\" must be true or false, not an array")]
    [InlineData("""{"code": "1", "id": {"n": 1}}""", "\"id\" must be a string, a number or null, not an object")]
    [InlineData("""{"code": "1", "id": [1]}""", "\"id\" must be a string, a number or null, not an array")]
    [InlineData("""{"code": "1", "id": true}""", "\"id\" must be a string, a number or null, not a boolean")]
    [InlineData("""{"code": "1", "id": false}""", "\"id\" must be a string, a number or null, not a boolean")]
    [InlineData("""{}""", "the request has no \"code\"")]
    [InlineData("""{"globals": {"a": 1}}""", "the request has no \"code\"")]
    [InlineData("""{"shutdown": false}""", "the request has no \"code\"")]
    public void TryParse_WrongType_IsRefusedNamingTheField(string line, string expected)
    {
        Assert.False(Parse(line, out _, out var error, out _));

        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("""{"code": "1", "cod": 2}""", "cod")]
    [InlineData("""{"Code": "1"}""", "Code")]
    [InlineData("""{"code": "1", "timeout": 5}""", "timeout")]
    [InlineData("""{"code": "1", "": 5}""", "")]
    [InlineData("""{"code": "1", "a\u0001b\nc": 5}""", "a?b?c")]
    [InlineData("""{"code": "1", "\ud83d\ude00": 5}""", "\ud83d\ude00")]
    [InlineData("""{"shutdown": true, "please": 1}""", "please")]
    public void TryParse_UnknownField_IsRefusedNamingIt(string line, string name)
    {
        Assert.False(Parse(line, out _, out var error, out _));

        Assert.Equal($"unknown field \"{name}\" (a request may have: code, globals, files, read_files, timeout_ms, id, shutdown)", error);
    }

    [Fact]
    public void TryParse_LongUnknownField_IsShortenedInTheMessage()
    {
        var name = new string('k', 500);

        Assert.False(Parse($$"""{"code": "1", "{{name}}": 1}""", out _, out var error, out _));

        Assert.StartsWith($"unknown field \"{new string('k', 64)}...\"", error, StringComparison.Ordinal);
        Assert.True(error.Length < 200, error);
    }

    [Fact]
    public void TryParse_LongUnknownFieldOfSurrogatePairs_IsNotCutInsideAPair()
    {
        // "x" first, so that the 64th character is the first half of a pair.
        var name = "x" + string.Concat(Enumerable.Repeat("\U0001F600", 100));

        Assert.False(Parse($$"""{"code": "1", "{{name}}": 1}""", out _, out var error, out _));

        var quoted = error.Split('"')[1];
        Assert.Equal(name[..63] + "...", quoted);
        _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(quoted); // no lone half left
    }

    [Fact]
    public void TryParse_UnknownField_KeepsTheId()
    {
        Assert.False(Parse("""{"id": "x", "code": "1", "extra": 1}""", out _, out _, out var id));

        Assert.Equal("x", id!.Value.GetString());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-1")]
    [InlineData("-2000")]
    [InlineData("2001")]
    [InlineData("1000000")]
    [InlineData("1.5")]
    [InlineData("0.5")]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("9223372036854775807")]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("\"1000\"")]
    [InlineData("true")]
    [InlineData("{}")]
    public void TryParse_TimeoutOutOfRangeOrNotAWholeNumber_IsRefused(string value)
    {
        Assert.False(Parse($$"""{"id": 3, "code": "1", "timeout_ms": {{value}}}""", out _, out var error, out var id));

        Assert.Equal("\"timeout_ms\" must be a whole number of milliseconds from 1 to 2000 (the server's --timeout-ms)", error);
        Assert.Equal("3", id!.Value.GetRawText());
    }

    [Fact]
    public void TryParse_TimeoutOfFourHundredDigits_IsRefused()
    {
        Assert.False(Parse($$"""{"code": "1", "timeout_ms": {{new string('9', 400)}}}""", out _, out var error, out _));

        Assert.StartsWith("\"timeout_ms\" must be a whole number", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("2000", 2000)]
    [InlineData("750", 750)]
    public void TryParse_TimeoutWithinRange_IsKept(string value, int ms)
    {
        Assert.True(Parse($$"""{"code": "1", "timeout_ms": {{value}}}""", out var request, out var error, out _), error);

        Assert.Equal(TimeSpan.FromMilliseconds(ms), request.Inputs!.Timeout);
        Assert.Null(request.Inputs.Globals);
    }

    [Fact]
    public void TryParse_TimeoutMaximum_FollowsTheServerLimit()
    {
        var line = Encoding.UTF8.GetBytes("""{"code": "1", "timeout_ms": 60000}""");

        Assert.True(ServeRequest.TryParse(line, TimeSpan.FromMinutes(1), out _, out var error, out _), error);
        Assert.False(ServeRequest.TryParse(line, TimeSpan.FromSeconds(59), out _, out error, out _));
        Assert.Contains("from 1 to 59000", error, StringComparison.Ordinal);
    }

    // ----- id -----

    [Theory]
    [InlineData("\"abc\"", JsonValueKind.String)]
    [InlineData("\"\"", JsonValueKind.String)]
    [InlineData("\"\\ud83d\\ude00 \\\"q\\\"\"", JsonValueKind.String)]
    [InlineData("42", JsonValueKind.Number)]
    [InlineData("-3", JsonValueKind.Number)]
    [InlineData("1.5", JsonValueKind.Number)]
    [InlineData("1e400", JsonValueKind.Number)]
    [InlineData("-0", JsonValueKind.Number)]
    [InlineData("12345678901234567890123456789012345678901234567890", JsonValueKind.Number)]
    [InlineData("null", JsonValueKind.Null)]
    public void TryParse_IdOfAnAcceptedKind_IsKeptAsSent(string raw, JsonValueKind kind)
    {
        Assert.True(Parse($$"""{"id": {{raw}}, "code": "1"}""", out var request, out var error, out var id), error);

        Assert.Equal(kind, request.Id!.Value.ValueKind);
        Assert.Equal(raw, request.Id.Value.GetRawText());
        Assert.Equal(raw, id!.Value.GetRawText());
    }

    [Theory]
    [InlineData("""{"id": "a", "code": 5}""")]
    [InlineData("""{"code": "1", "globals": [], "id": "a"}""")]
    [InlineData("""{"code": "1", "globals": {"x": "\ud800"}, "id": "a"}""")]
    [InlineData("""{"id": "a", "timeout_ms": 0, "code": "1"}""")]
    [InlineData("""{"id": "a"}""")]
    [InlineData("""{"id": "a", "shutdown": "yes"}""")]
    public void TryParse_RefusedLineWithAReadableId_KeepsTheId(string line)
    {
        Assert.False(Parse(line, out _, out _, out var id));

        Assert.Equal("a", id!.Value.GetString());
    }

    [Theory]
    [InlineData("""{"id": {}, "code": "1"}""")]
    [InlineData("""{"id": [], "code": "1"}""")]
    [InlineData("""{"id": true, "code": "1"}""")]
    [InlineData("""["id", 1]""")]
    [InlineData("""{"id": 1, "code": "1" """)]
    [InlineData("""{"id": 1, "code": "1",}""")]
    public void TryParse_IdNotReadable_IsNotEchoed(string line)
    {
        Assert.False(Parse(line, out _, out _, out var id));

        Assert.Null(id);
    }

    // ----- shutdown -----

    [Fact]
    public void TryParse_ShutdownTrue_NeedsNoCode()
    {
        Assert.True(Parse("""{"shutdown": true}""", out var request, out var error, out _), error);

        Assert.True(request.Shutdown);
        Assert.Null(request.Id);
    }

    [Fact]
    public void TryParse_ShutdownTrueWithId_KeepsTheId()
    {
        Assert.True(Parse("""{"id": "bye", "shutdown": true}""", out var request, out var error, out _), error);

        Assert.True(request.Shutdown);
        Assert.Equal("bye", request.Id!.Value.GetString());
    }

    [Fact]
    public void TryParse_ShutdownFalseWithCode_IsARun()
    {
        Assert.True(Parse("""{"shutdown": false, "code": "0"}""", out var request, out var error, out _), error);

        Assert.False(request.Shutdown);
        Assert.Equal("0", request.Code);
    }

    [Theory]
    [InlineData("""{"shutdown": true, "id": {}}""")]
    [InlineData("""{"shutdown": true, "extra": 1}""")]
    [InlineData("""{"shutdown": true, "shutdown": true}""")]
    [InlineData("""{"shutdown": true, "code": "\ud800"}""")]
    [InlineData("""{"shutdown": "true"}""")]
    [InlineData("""{"shutdown": 1}""")]
    [InlineData("""[{"shutdown": true}]""")]
    [InlineData("""{"shutdown": true""")]
    public void TryParse_ShutdownInAnInvalidLine_IsRefused(string line)
    {
        Assert.False(Parse(line, out _, out var error, out _));

        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("""{"shutdown": true, "code": 5}""", "\"code\" must be a string")]
    [InlineData("""{"shutdown": true, "globals": []}""", "\"globals\" must be an object")]
    [InlineData("""{"shutdown": true, "files": {"/data/x": 1}}""", "\"files\": the content of '/data/x' is not a base64 string")]
    [InlineData("""{"shutdown": true, "read_files": "/out/x"}""", "\"read_files\" must be an array")]
    [InlineData("""{"shutdown": true, "timeout_ms": 0}""", "\"timeout_ms\" must be a whole number")]
    public void TryParse_ShutdownBesideAFieldOfTheWrongType_IsRefused(string line, string expected)
    {
        // Every field is of its own type or the line is refused: a malformed line must not stop the server.
        Assert.False(Parse(line, out var request, out var error, out _), "read as a shutdown request: " + request?.Shutdown);

        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    // ----- not a request at all -----

    [Theory]
    [InlineData("[]", "an array")]
    [InlineData("[{\"code\": \"1\"}]", "an array")]
    [InlineData("\"code\"", "a string")]
    [InlineData("1", "a number")]
    [InlineData("1e400", "a number")]
    [InlineData("null", "null")]
    [InlineData("true", "a boolean")]
    public void TryParse_ValidJsonThatIsNotAnObject_IsRefused(string line, string what)
    {
        Assert.False(Parse(line, out _, out var error, out var id));

        Assert.Equal($"a request is a JSON object, not {what}", error);
        Assert.Null(id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{")]
    [InlineData("{\"code\": \"1\"")]
    [InlineData("{\"code\": \"1}")]
    [InlineData("{\"code\": \"1\"}}")]
    [InlineData("{\"code\": \"1\"} {}")]
    [InlineData("{\"code\": \"1\",}")]
    [InlineData("{'code': '1'}")]
    [InlineData("{code: \"1\"}")]
    [InlineData("{\"code\": \"1\"} // comment")]
    [InlineData("{\"code\": \"a\tb\"}")]
    [InlineData("{\"code\": \"a\\x41\"}")]
    [InlineData("{\"code\": \"\\u12\"}")]
    [InlineData("{\"code\": \"1\", \"timeout_ms\": NaN}")]
    [InlineData("{\"code\": \"1\", \"timeout_ms\": 01}")]
    [InlineData("{\"code\": \"1\", \"timeout_ms\": +1}")]
    [InlineData("{\"code\": \"1\", \"timeout_ms\": .5}")]
    [InlineData("{\"code\": \"1\", \"timeout_ms\": 1e}")]
    [InlineData("\f{\"code\": \"1\"}")]
    [InlineData("{\"code\": \"1\"}\0")]
    public void TryParse_NotValidJson_IsRefused(string line)
    {
        Assert.False(Parse(line, out _, out var error, out var id));

        Assert.StartsWith("the line is not valid JSON (at ", error, StringComparison.Ordinal);
        Assert.Null(id);
    }

    [Theory]
    [InlineData(62, true)]
    [InlineData(63, false)]
    [InlineData(100, false)]
    [InlineData(1000, false)]
    public void TryParse_Depth_IsLimitedTo64(int arrays, bool accepted)
    {
        // The request object is level 1 and "globals" level 2: 62 arrays inside reach level 64.
        var line = """{"code": "1", "globals": {"a": """ + new string('[', arrays) + new string(']', arrays) + "}}";

        Assert.Equal(accepted, Parse(line, out _, out var error, out _));

        if (!accepted)
        {
            Assert.StartsWith("the line is not valid JSON", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TryParse_DeepObjectsInGlobals_AreRefused()
    {
        var line = """{"code": "1", "globals": """ + string.Concat(Enumerable.Repeat("{\"a\": ", 100)) + "1" + new string('}', 100) + "}";

        Assert.False(Parse(line, out _, out var error, out _));

        Assert.StartsWith("the line is not valid JSON", error, StringComparison.Ordinal);
    }

    // ----- messages -----

    public static TheoryData<byte[]> Refused()
    {
        var data = new TheoryData<byte[]>();
        var lines = new[]
        {
            """{"code": "1", "code": "2"}""", """{"code": "1", "globals": {"a": {"b": 1, "b": 1}}}""",
            """{"code": "\ud800"}""", """{"code": "1", "globals": {"\ud800": 1}}""", """{"\udc00": 1}""",
            """{"id": "\ud800", "code": "1"}""", """{"code": 1}""", """{"code": "1", "globals": []}""",
            """{"code": "1", "files": {"/x": 1}}""", """{"code": "1", "read_files": [1]}""", """{"code": "1", "timeout_ms": 1e400}""",
            """{"id": [], "code": "1"}""", """{"shutdown": 1}""", """{"code": "1", "nope": 1}""", """[]""", """1e400""",
            "{", "{\"code\": \"1\"", "\u0000", "{\"code\": \"1\"}\u00a0",
            "{\"code\": \"1\", \"globals\": " + new string('[', 200) + new string(']', 200) + "}",
        };
        foreach (var line in lines)
        {
            data.Add(Encoding.UTF8.GetBytes(line));
        }

        foreach (var row in InvalidUtf8InStrings.Concat(InvalidUtf8Elsewhere))
        {
            data.Add((byte[])row[0]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Refused))]
    public void TryParse_AnyRefusal_MessageNamesNoDotNetTypes(byte[] line)
    {
        Assert.False(ServeRequest.TryParse(line, s_maxTimeout, out _, out var error, out _));

        AssertPlainMessage(error);
    }

    // ----- run --globals -----

    [Fact]
    public void TryParseGlobals_Object_ReadsEachEntry()
    {
        Assert.True(ServeRequest.TryParseGlobals("""{"n": 1, "s": "\ud83d\ude00", "l": [1, {"k": null}], "big": 123456789012345678901234567890}""", out var globals, out var error), error);

        Assert.Equal(["big", "l", "n", "s"], globals.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("\U0001F600", Assert.IsType<JsonElement>(globals["s"]).GetString());
        Assert.Equal("""[1, {"k": null}]""", Assert.IsType<JsonElement>(globals["l"]).GetRawText());
        Assert.Equal("123456789012345678901234567890", Assert.IsType<JsonElement>(globals["big"]).GetRawText());
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("""{"a": 1, "a": 2}""")]
    [InlineData("""{"a": 1, "\u0061": 2}""")]
    [InlineData("""{"a": {"b": [{"c": 1, "c": 2}]}}""")]
    public void TryParseGlobals_DuplicateKey_IsRefused(string json)
    {
        Assert.False(ServeRequest.TryParseGlobals(json, out var globals, out var error));

        Assert.StartsWith("a key appears twice in one object", error, StringComparison.Ordinal);
        Assert.Empty(globals);
    }

    [Theory]
    [InlineData("""{"a": "\ud800"}""")]
    [InlineData("""{"a": [{"b": "x\udc00"}]}""")]
    [InlineData("""{"\ud800": 1}""")]
    [InlineData("""{"a": {"\udfff": 1}}""")]
    public void TryParseGlobals_LoneSurrogateEscape_IsRefused(string json)
    {
        Assert.False(ServeRequest.TryParseGlobals(json, out _, out var error));

        Assert.Contains("not valid Unicode (a lone surrogate)", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("value")]
    [InlineData("key")]
    public void TryParseGlobals_LoneSurrogateCharacter_IsRefused(string where)
    {
        // Text that is itself not valid UTF-16 (a command line on Windows can be): refused, not thrown.
        // (Built here: an attribute argument cannot carry a lone surrogate.)
        var lone = ((char)0xD800).ToString();
        var json = where == "key" ? "{\"" + lone + "\": 1}" : "{\"a\": \"" + lone + "\"}";

        var ok = ServeRequest.TryParseGlobals(json, out _, out var error);

        Assert.False(ok);
        Assert.Contains("lone surrogate", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1, 2]", "must be a JSON object of names to values, not an array")]
    [InlineData("\"x\"", "must be a JSON object of names to values, not a string")]
    [InlineData("7", "must be a JSON object of names to values, not a number")]
    [InlineData("null", "must be a JSON object of names to values, not null")]
    public void TryParseGlobals_NotAnObject_IsRefused(string json, string expected)
    {
        Assert.False(ServeRequest.TryParseGlobals(json, out _, out var error));

        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"a\": 1,}")]
    [InlineData("{a: 1}")]
    public void TryParseGlobals_NotJson_IsRefused(string json)
    {
        Assert.False(ServeRequest.TryParseGlobals(json, out _, out var error));

        Assert.StartsWith("is not valid JSON (at ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(63, true)]
    [InlineData(64, false)]
    [InlineData(500, false)]
    public void TryParseGlobals_Depth_IsLimitedTo64(int arrays, bool accepted)
    {
        var json = """{"a": """ + new string('[', arrays) + new string(']', arrays) + "}";

        Assert.Equal(accepted, ServeRequest.TryParseGlobals(json, out _, out var error));

        if (!accepted)
        {
            Assert.StartsWith("is not valid JSON", error, StringComparison.Ordinal);
        }
    }

    // ----- helpers -----

    private static bool Parse(string line, out ServeRequest request, out string error, out JsonElement? id) =>
        ServeRequest.TryParse(Encoding.UTF8.GetBytes(line), s_maxTimeout, out request, out error, out id);

    private static byte[] Bytes(string before, byte[] raw, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. raw, .. Encoding.UTF8.GetBytes(after)];

    private static byte[] Bytes(string before, byte[] raw, string middle, byte[] raw2, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. raw, .. Encoding.UTF8.GetBytes(middle), .. raw2, .. Encoding.UTF8.GetBytes(after)];

    private static void AssertPlainMessage(string error)
    {
        Assert.NotEmpty(error);
        foreach (var dotNet in new[] { "System.", "Exception", "JsonElement", "JsonValueKind", "Utf8JsonReader", "LineNumber", "BytePositionInLine", "UTF-16 JSON text" })
        {
            Assert.DoesNotContain(dotNet, error, StringComparison.Ordinal);
        }
    }
}
