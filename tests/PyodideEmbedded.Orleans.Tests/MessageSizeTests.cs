using System.Text;
using Orleans.TestingHost;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>Runs too large for one cluster message: refused by the caller, or answered without what does not fit;
/// never a call that waits out its timeout, and the cluster keeps working.</summary>
public sealed class MessageSizeTests : IAsyncLifetime
{
    private const long MaxMessage = 4L * 1024 * 1024;
    // Shorter than any wait for an Orleans timeout (2 minutes): an oversized message must not end as one.
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestClusters.StartAsync(1, new SandboxPoolOptions
    {
        MinReady = 1,
        MaxSandboxes = 4,
        Sandbox = new SandboxOptions { MaxOutputBytes = 16 * 1024 * 1024 },
    }, maxMessageBytes: MaxMessage);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact(Timeout = 60_000)]
    public async Task RequestTooLarge_IsRefusedByTheCaller_AndTheClusterKeepsWorking()
    {
        var sandboxes = _cluster.Sandboxes();
        var half = new byte[3 * 1024 * 1024];
        var files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/a"] = half, ["/data/b"] = half };

        var e = await Assert.ThrowsAsync<ArgumentException>(() => sandboxes.RunAsync("1", new RunInputs { Files = files }).WaitAsync(s_bound));
        Assert.Contains("MaxMessageBytes", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => sandboxes.RunInSessionAsync("big", new string('#', 5 * 1024 * 1024)).WaitAsync(s_bound));

        var fits = await sandboxes.RunAsync("len(open('/data/a','rb').read())", new RunInputs { Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/a"] = half } }).WaitAsync(s_bound);
        Assert.Equal(half.Length, fits.Value!.Value.GetInt32());
    }

    [Fact(Timeout = 60_000)]
    public async Task ResultTooLarge_ReturnsWhatFits_AndNamesEachFileLeftOut()
    {
        var sandboxes = _cluster.Sandboxes();
        var code = "import os\nos.makedirs('/out', exist_ok=True)\n"
            + "for name in 'abc':\n    open('/out/' + name, 'wb').write(name.encode() * (1536 * 1024))\n'done'";
        var result = await sandboxes.RunAsync(code, new RunInputs { ReadFiles = ["/out/a", "/out/b", "/out/c"] }).WaitAsync(s_bound);

        Assert.Equal("done", result.Value!.Value.GetString());
        Assert.Equal(["/out/a", "/out/b"], result.Files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((byte)'b', result.Files["/out/b"].Span[^1]);
        Assert.Contains("MaxMessageBytes", result.FileErrors["/out/c"], StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task OutputTooLarge_IsCutAndMarked_NotLost()
    {
        var sandboxes = _cluster.Sandboxes();
        var result = await sandboxes.RunInSessionAsync("loud", "print('x' * (6 * 1024 * 1024))\nkept = 1\n'end'").WaitAsync(s_bound);

        Assert.True(result.StdoutTruncated);
        Assert.True(Encoding.UTF8.GetByteCount(result.Stdout) < MaxMessage);
        Assert.False(result.SandboxLost);
        var next = await sandboxes.RunInSessionAsync("loud", "kept").WaitAsync(s_bound);
        Assert.Equal(1, next.Value!.Value.GetInt32());
    }
}
