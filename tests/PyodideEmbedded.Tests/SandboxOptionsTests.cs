namespace PyodideEmbedded.Tests;

public sealed class SandboxOptionsTests
{
    public static TheoryData<SandboxOptions> Invalid => new()
    {
        new SandboxOptions { Timeout = TimeSpan.Zero },
        new SandboxOptions { Timeout = Timeout.InfiniteTimeSpan },
        new SandboxOptions { Timeout = TimeSpan.FromDays(2) },
        new SandboxOptions { MemoryLimitBytes = 1024 },
        new SandboxOptions { MemoryLimitBytes = 8L << 30 },
        new SandboxOptions { JsHeapLimitBytes = 0 },
        new SandboxOptions { MaxOutputBytes = -1 },
        new SandboxOptions { MaxCodeBytes = 0 },
        new SandboxOptions { InterruptGracePeriod = TimeSpan.Zero },
        new SandboxOptions { AssetsPath = " " },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_OutOfRange_Throws(SandboxOptions options)
    {
        Assert.ThrowsAny<ArgumentException>(options.Validate);
    }

    [Fact]
    public void Validate_Defaults_AreAccepted()
    {
        new SandboxOptions().Validate();
    }

    [Fact]
    public async Task CreateAsync_InvalidOptions_ThrowsBeforeBooting()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => PythonSandbox.CreateAsync(new SandboxOptions { Timeout = TimeSpan.Zero }));
    }
}
