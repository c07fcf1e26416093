using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

public sealed class WasmMemoryLimitTests
{
    // (module (memory 2 100)) followed by an empty custom section.
    private static readonly byte[] SmallModule =
    [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        0x05, 0x04, 0x01, 0x01, 0x02, 0x64,
        0x00, 0x02, 0x01, 0x78,
    ];

    [Fact]
    public void Apply_LowersTheMaximumAndKeepsTheRest()
    {
        var limited = WasmMemoryLimit.Apply(SmallModule, 10 * 64 * 1024);

        Assert.Equal((byte)0x01, limited[11]); // has maximum
        Assert.Equal((byte)2, limited[12]);    // minimum untouched
        Assert.Equal((byte)10, limited[13]);   // new maximum, in pages
        Assert.Equal(SmallModule[14..], limited[14..]);
    }

    [Fact]
    public void Apply_MaximumNeedingALongerNumber_RewritesTheSectionSize()
    {
        var limited = WasmMemoryLimit.Apply(SmallModule, 4096L * 64 * 1024);

        Assert.Equal((byte)0x05, limited[9]); // one byte longer than before
        Assert.Equal(new byte[] { 0x80, 0x20 }, limited[13..15]);
        Assert.Equal(SmallModule[14..], limited[15..]);
    }

    [Fact]
    public void Apply_LimitBelowTheInitialMemory_Throws()
    {
        var e = Assert.Throws<InvalidDataException>(() => WasmMemoryLimit.Apply(SmallModule, 64 * 1024));

        Assert.Contains("below Pyodide's initial memory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_NotWasm_Throws()
    {
        Assert.Throws<InvalidDataException>(() => WasmMemoryLimit.Apply("hello world"u8.ToArray(), 1 << 30));
    }

    [Fact]
    public void Apply_ShippedPyodide_KeepsItsSize()
    {
        var wasm = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "pyodide-dist", "pyodide.asm.wasm"));

        var limited = WasmMemoryLimit.Apply(wasm, 256L * 1024 * 1024);

        // The 4 GiB maximum (65536 pages, a 3-byte number) becomes 4096 pages (2 bytes).
        Assert.Equal(wasm.Length - 1, limited.Length);
    }
}
