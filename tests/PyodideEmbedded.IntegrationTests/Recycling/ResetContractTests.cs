using System.Text;

namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>ResetAsync's contract around the edges: cancellation, repeated host files, a disposed sandbox.</summary>
public sealed class ResetContractTests(DefaultRecyclingFixture fixture) : IClassFixture<DefaultRecyclingFixture>
{
    private RecyclingSandbox Tenant => fixture.Tenant;

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ResetCancelledBeforeItStarts_NeverHandsTenantAsStateToTheNextRun()
    {
        // ResetAsync documents: "Cancels the reset; the sandbox is then faulted (its state is not known to be clean)".
        // A host that catches the cancellation and runs the next tenant must get a fault, never A's state.
        await Tenant.CleanAsync();
        await Tenant.PoisonAsync("secret_a = 'tenant A'");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Tenant.Sandbox.ResetAsync(new CancellationToken(canceled: true)));

        if (!Tenant.Sandbox.IsFaulted)
        {
            var b = await Tenant.ValueAsync("'secret_a' in globals()");
            Assert.False(b.GetBoolean(), "After a cancelled reset the sandbox is not faulted and B sees A's global 'secret_a'");
        }

        await Tenant.Sandbox.ResetAsync(); // a faulted sandbox comes back through a reset
        Assert.False((await Tenant.ValueAsync("'secret_a' in globals()")).GetBoolean());
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostFilesOfManyTenants_NeverLeaveALaterTenantWithoutRoom()
    {
        // 24 tenants each get 16 MiB of host files (384 MiB in all, past the 256 MiB JavaScript heap). The isolate's
        // ArrayBuffer limit keeps counting host-written buffers after their files are removed, so an isolate takes
        // only a quarter of the heap limit of them over its life: then its reset replaces it. Every tenant gets its
        // files, and sees only its own.
        await Tenant.CleanAsync();
        var content = new byte[16 << 20];
        Encoding.ASCII.GetBytes("TENANT").CopyTo(content, 0);
        var before = Tenant.Sandbox.Resets;
        for (var i = 0; i < 24; i++)
        {
            var run = await Tenant.Sandbox.RunAsync(
                "import os\n[os.path.getsize('/data/big.bin'), sorted(os.listdir('/data'))]",
                new RunInputs { Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/big.bin"] = content, [$"/data/t{i}.txt"] = new byte[] { 1 } } });
            Assert.True(run.Succeeded, $"Tenant {i} was refused its 16 MiB: {run.Error?.Summary}");
            Same.Json($"[{16 << 20},[\"big.bin\",\"t{i}.txt\"]]", run.Value!.Value);
            await Tenant.Sandbox.ResetAsync();
        }

        var resets = Tenant.Sandbox.Resets;
        Assert.InRange(resets.InPlace - before.InPlace, 12, 21); // three or four tenants in place per isolate
        Assert.InRange(resets.NewIsolate - before.NewIsolate, 3, 12);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task ResetOfADisposedSandbox_Throws()
    {
        var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);
        await sandbox.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sandbox.ResetAsync());
    }
}
