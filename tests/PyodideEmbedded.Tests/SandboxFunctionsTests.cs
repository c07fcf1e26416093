using System.Numerics;
using System.Text.Json;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>Granting functions and binding their JSON arguments, without a sandbox.</summary>
public sealed class SandboxFunctionsTests
{
    private sealed record Point(long X, long Y);

    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("has space")]
    [InlineData("lambda")]
    [InlineData("_private")]
    [InlineData("__import__")]
    [InlineData("HostFunctionError")]
    [InlineData("aio")]
    [InlineData("naïve")]
    public void Add_NameThatPythonCannotUseOrThatIsReserved_Throws(string name) =>
        Assert.Throws<ArgumentException>(() => new SandboxFunctions().Add(name, () => 1));

    [Fact]
    public void Add_SameNameTwice_Throws()
    {
        var functions = new SandboxFunctions().Add("f", () => 1);

        Assert.Throws<ArgumentException>(() => functions.Add("f", () => 2));
    }

    [Fact]
    public void Add_ByRefParameter_Throws() =>
        Assert.Throws<ArgumentException>(() => new SandboxFunctions().Add("f", new ByRef(static (ref int x) => x)));

    private delegate int ByRef(ref int x);

    [Theory]
    [InlineData(0)]
    [InlineData(1_000_001)]
    public void Validate_CallCapOutOfRange_Throws(int cap) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SandboxOptions { Functions = new SandboxFunctions { MaxCallsPerRun = cap } }.Validate());

    [Fact]
    public void Freeze_LaterAdds_DoNotChangeTheFrozenTable()
    {
        var functions = new SandboxFunctions().Add("a", () => 1);
        var table = functions.Freeze();
        functions.Add("b", () => 2);

        Assert.NotNull(table.Find("a"));
        Assert.Null(table.Find("b"));
        Assert.Equal(["a", "b"], functions.Names);
    }

    [Fact]
    public void Spec_DescribesParametersInSnakeCase_WithoutTheToken()
    {
        var table = new SandboxFunctions()
            .Add("move", (Point fromPoint, long stepCount = 2, CancellationToken cancellationToken = default) => fromPoint, "Moves.")
            .Freeze();

        Assert.Equal(
            """[{"name":"move","doc":"Moves.","returns":"dict","parameters":[{"name":"from_point","type":"dict"},{"name":"step_count","type":"int","default":2}]}]""",
            table.Spec);
    }

    [Fact]
    public async Task Bind_RecordsBigIntegersAndDefaults_ThenInvoke_WritesSnakeCaseJson()
    {
        var function = HostFunction.Create("f", (Point point, BigInteger big, string label = "x") => new { point, big, label }, null);
        using var arguments = JsonDocument.Parse("""{"point": {"x": 1, "y": 2}, "big": 123456789012345678901234567890}""");

        var values = function.BindArguments(arguments.RootElement, CancellationToken.None, out var error);

        Assert.Null(error);
        Assert.Equal(new Point(1, 2), values![0]);
        Assert.Equal(BigInteger.Parse("123456789012345678901234567890", System.Globalization.CultureInfo.InvariantCulture), values[1]);
        Assert.Equal("x", values[2]);
        Assert.Equal("""{"point":{"x":1,"y":2},"big":123456789012345678901234567890,"label":"x"}""", await function.InvokeAsync(values));
    }

    [Theory]
    [InlineData("""{"a": "1", "b": 2}""", "f() argument 'a' must be an int")]
    [InlineData("""{"a": 1.5, "b": 2}""", "f() argument 'a' must be an int")]
    [InlineData("""{"a": null, "b": 2}""", "f() argument 'a' must be an int")]
    [InlineData("""{"a": 99999999999999999999, "b": 2}""", "f() argument 'a' must be an int")]
    [InlineData("""{"a": 1}""", "f() missing required argument: 'b'")]
    [InlineData("""{"a": 1, "b": 2, "c": 3}""", "f() got an unexpected keyword argument")]
    [InlineData("""[1, 2]""", "the arguments are not a JSON object")]
    public void Bind_WrongArguments_SayWhichInPythonTerms(string json, string message)
    {
        var function = HostFunction.Create("f", (long a, long b) => a + b, null);
        using var arguments = JsonDocument.Parse(json);

        Assert.Null(function.BindArguments(arguments.RootElement, CancellationToken.None, out var error));
        Assert.Equal(message, error);
        Assert.DoesNotContain("Int64", error, StringComparison.Ordinal);
    }
}
