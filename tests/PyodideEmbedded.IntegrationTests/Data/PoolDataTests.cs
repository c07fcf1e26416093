namespace PyodideEmbedded.IntegrationTests;

/// <summary>The pool's overloads: fresh sandboxes and sessions, with data.</summary>
public sealed class PoolDataTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task Pool_RunAndSessionWithInputs_MoveDataInAndOut()
    {
        await using var pool = new SandboxPool(new SandboxPoolOptions { Sandbox = TestOptions.Default, MinReady = 1, MaxSandboxes = 3 });
        var inputs = new RunInputs
        {
            Globals = new Dictionary<string, object?> { ["factor"] = 3 },
            Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/n.txt"] = "14"u8.ToArray() },
            ReadFiles = ["/out/r.txt"],
        };
        const string code = "r = int(open('/data/n.txt').read()) * factor\nopen('/out/r.txt', 'w').write(str(r))\nr";

        var fresh = await pool.RunAsync(code, inputs);
        var session = await pool.RunInSessionAsync("s1", code, inputs);
        var kept = await pool.RunInSessionAsync("s1", "[factor, open('/data/n.txt').read()]", null);

        Assert.Equal(42, fresh.Value!.Value.GetInt32());
        Assert.Equal("42", System.Text.Encoding.UTF8.GetString(fresh.Files["/out/r.txt"].Span));
        Assert.Equal(42, session.Value!.Value.GetInt32());
        Assert.Equal(3, kept.Value!.Value[0].GetInt32());
        Assert.Equal("14", kept.Value.Value[1].GetString());
    }
}
