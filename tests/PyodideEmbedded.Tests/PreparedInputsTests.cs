using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class PreparedInputsTests
{
    [Fact]
    public void Create_CountsFileBytesAndDropsRepeatedReads()
    {
        var inputs = new RunInputs
        {
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/a"] = new byte[10], ["/tmp/b"] = new byte[5] },
            ReadFiles = ["/out/x", "/out/x", "/out/y"],
        };

        var prepared = PreparedInputs.Create(inputs, 1000);

        Assert.Equal(15, prepared.FileBytes);
        Assert.Equal(["/out/x", "/out/y"], prepared.ReadFiles);
        Assert.Null(prepared.GlobalsJson);
    }

    [Fact]
    public void Create_BadPathInReadFiles_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => PreparedInputs.Create(new RunInputs { ReadFiles = ["/lib/python3.14/os.py"] }, 1000));

        Assert.Equal("inputs", e.ParamName);
        Assert.Contains("/lib/python3.14/os.py", e.Message, StringComparison.Ordinal);
    }
}
