namespace PyodideEmbedded.IntegrationTests.Recycling;

/// <summary>
/// What A leaves in memory it grew and freed: after an in-place reset (pages beyond the start's dropped, the rest
/// re-mapped), nothing B allocates holds A's bytes.
/// </summary>
public sealed class MemoryResidueTests(DefaultRecyclingFixture fixture) : IClassFixture<DefaultRecyclingFixture>
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task BytesTenantAWroteAndFreed_AreNotInTenantBsAllocations()
    {
        var tenant = fixture.Tenant;
        await tenant.CleanAsync();
        // Big blocks (fresh pages past the start) and many small objects (the allocator's arenas), then freed.
        await tenant.PoisonAsync("""
            big = [b'TENANT-A-RESIDUE' * (1 << 18) for _ in range(16)]
            small = [('TENANT-A-RESIDUE-%d' % i).encode() for i in range(200000)]
            del big, small
            kept = b'TENANT-A-RESIDUE' * 1000
            """);
        await tenant.ResetAsync(ResetPath.InPlace);

        var b = await tenant.ValueAsync("""
            import gc
            fresh = [bytes(1 << 22) for _ in range(24)]          # calloc'd: fresh pages
            grown = [bytearray(1 << 20) for _ in range(24)]
            objs = [bytes(64) for _ in range(200000)]
            hits = sum(x.count(b'TENANT-A') for x in fresh + grown + objs)
            [hits, 'kept' in globals(), sum(1 for o in gc.get_objects() if isinstance(o, bytes) and b'TENANT-A' in o)]
            """);
        Same.Json("[0,false,0]", b);
    }
}
