using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class GlobalsJsonTests
{
    private static string Json(object? value, string name = "v") =>
        GlobalsJson.Serialize(new Dictionary<string, object?> { [name] = value }, 1 << 20, "inputs", out _)!;

    [Fact]
    public void Serialize_Integers_KeepEveryDigit()
    {
        Assert.Equal("""{"v":1267650600228229401496703205376}""", Json(BigInteger.Pow(2, 100)));
        Assert.Equal("""{"v":-1267650600228229401496703205376}""", Json(-BigInteger.Pow(2, 100)));
        Assert.Equal("""{"v":18446744073709551615}""", Json(ulong.MaxValue));
        Assert.Equal("""{"v":-170141183460469231731687303715884105728}""", Json(Int128.MinValue));
        Assert.Equal("""{"v":[1,2,3,4,5,6,7,8]}""", Json(new object[] { (byte)1, (sbyte)2, (short)3, (ushort)4, 5, 6u, 7L, 8ul }));
    }

    [Fact]
    public void Serialize_FloatingPoint_StaysFloat()
    {
        Assert.Equal("""{"v":[1.0,0.1,-0.0,1E+300,0.1,2.50]}""", Json(new object[] { 1.0, 0.1, -0.0, 1e300, 0.1f, 2.50m }));
    }

    [Fact]
    public void Serialize_TextAndStructures_AsJson()
    {
        var value = new Dictionary<string, object?>
        {
            ["text"] = "héllo ✓ 😀 \"quoted\" \n",
            ["list"] = new List<object?> { null, true, false, 'c' },
            ["nested"] = new Dictionary<string, int> { ["a"] = 1 },
        };

        Assert.Equal("""{"v":{"text":"héllo ✓ \uD83D\uDE00 \"quoted\" \n","list":[null,true,false,"c"],"nested":{"a":1}}}""", Json(value));
    }

    [Fact]
    public void Serialize_JsonElementAndJsonNode_PassThroughExactly()
    {
        using var document = JsonDocument.Parse("""{"big": 123456789012345678901234567890, "f": 1.50, "s": "x", "a": [true, null]}""");
        var node = JsonNode.Parse("""{"n": [1, 2.5, "y"]}""")!;
        node["added"] = 7;
        node["d"] = 1.0;

        Assert.Equal("""{"v":{"big":123456789012345678901234567890,"f":1.50,"s":"x","a":[true,null]}}""", Json(document.RootElement));
        Assert.Equal("""{"v":{"n":[1,2.5,"y"],"added":7,"d":1.0}}""", Json(node));
        Assert.Equal("""{"v":[1,{"k":null}]}""", Json(new JsonArray(1, new JsonObject { ["k"] = null })));
    }

    public static TheoryData<object> Unsupported => new()
    {
        DateTime.UnixEpoch,
        Guid.Empty,
        new object(),
        double.NaN,
        double.PositiveInfinity,
        new byte[] { 1 },
        new ReadOnlyMemory<byte>([1]),
        new Dictionary<int, string> { [1] = "a" },
        new List<object> { new Uri("http://x") },
        (Func<int>)(() => 1),
        typeof(string),
        DayOfWeek.Monday,
        default(JsonElement),
        BigInteger.Pow(10, 5000),
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void Serialize_UnsupportedValue_ThrowsNamingTheGlobal(object value)
    {
        var e = Assert.Throws<ArgumentException>(() => Json(value, "the_key"));

        Assert.Contains("'the_key'", e.Message, StringComparison.Ordinal);
        Assert.Equal("inputs", e.ParamName);
    }

    [Fact]
    public void Serialize_LoneSurrogate_IsRefusedNotReplaced()
    {
        Assert.Throws<ArgumentException>(() => Json("lone " + '\ud800'));
        Assert.Throws<ArgumentException>(() => Json(new Dictionary<string, object?> { ["k" + '\udc00'] = 1 }));
    }

    [Fact]
    public void Serialize_SelfContainingList_IsRefusedNotAStackOverflow()
    {
        var list = new List<object>();
        list.Add(list);

        var e = Assert.Throws<ArgumentException>(() => Json(list, "loop"));

        Assert.Contains("'loop' nests deeper than", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Serialize_DeeplyNestedJsonNode_IsRefusedWithTheDepthLimit(bool objects)
    {
        JsonNode deep = new JsonArray();
        for (var i = 0; i < 200; i++)
        {
            deep = objects ? new JsonObject { ["k"] = deep } : new JsonArray(deep);
        }

        var e = Assert.Throws<ArgumentException>(() => Json(deep, "deep"));

        Assert.Contains("'deep' nests deeper than 64 levels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_JsonNodeAtTheDepthLimit_IsAccepted()
    {
        JsonNode deep = new JsonArray();
        for (var i = 0; i < GlobalsJson.MaxDepth - 1; i++)
        {
            deep = new JsonArray(deep);
        }

        Assert.StartsWith("{\"ok\":[[[", Json(deep, "ok"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("__builtins__")]
    [InlineData("__name__")]
    [InlineData("__x")]
    [InlineData("class")]
    [InlineData("None")]
    [InlineData("1x")]
    [InlineData("a-b")]
    [InlineData("a b")]
    [InlineData("")]
    [InlineData("é")]
    public void Serialize_NotAPlainIdentifier_IsRefused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => Json(1, name));

        Assert.Contains("is not allowed", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("_private")]
    [InlineData("match")]
    [InlineData("type")]
    [InlineData("data_2")]
    public void Serialize_PlainIdentifier_IsAccepted(string name)
    {
        Assert.Equal($$"""{"{{name}}":1}""", Json(1, name));
    }

    [Fact]
    public void Serialize_OverTheCap_ReturnsNullEarly()
    {
        var huge = Enumerable.Range(0, 1_000_000).Select(i => (object)"xxxxxxxxxx").ToList();

        var json = GlobalsJson.Serialize(new Dictionary<string, object?> { ["big"] = huge }, 1000, "inputs", out var bytes);

        Assert.Null(json);
        Assert.InRange(bytes, 1001, 100_000);
    }
}
