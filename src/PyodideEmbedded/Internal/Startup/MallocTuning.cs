using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Keeps the process's memory from holding on to what sandboxes no longer use. Process-wide, like
/// V8's flags; the glibc parts only on Linux, where glibc is.
/// <list type="bullet">
/// <item><see cref="FixMmapThreshold"/>: glibc raises its mmap threshold to the size of every large
/// block freed, up to 32 MiB; after the first start, the large buffers a start allocates and frees
/// (module bytes, the standard library) came from malloc arenas instead, which keep their pages once
/// freed: ~16 MiB of resident memory per sandbox (measured: 57.7 → 41.2 MiB PSS). A fixed threshold
/// (glibc's default value) turns the adjustment off.</item>
/// <item><see cref="TrimAfterDispose"/>: the free pages left inside malloc arenas by a disposed isolate.</item>
/// <item><see cref="CollectStartupGarbage"/>: the template engine's garbage, once per process.</item>
/// </list>
/// Measured with <c>--probe-soak</c> (benchmarks/results/soak.md).
/// </summary>
internal static partial class MallocTuning
{
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD
    private const int DefaultThresholdBytes = 128 * 1024;
    private static int s_trimQueued;

    public static void FixMmapThreshold()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _ = Mallopt(MmapThreshold, DefaultThresholdBytes); // 0 = not applied (e.g. musl): nothing lost
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without mallopt.
        }
    }

    /// <summary>
    /// Returns the free pages of every malloc arena to the system; called after an isolate was
    /// disposed. Each sandbox's engine thread allocates V8's native memory from its own glibc arena,
    /// and glibc gives an arena's memory back only from its top, so the free space a disposed isolate
    /// left inside an arena stayed resident: the arenas grew by 28 MiB over 60 replaced sandboxes
    /// (/proc/PID/smaps). <c>malloc_trim(0)</c> also releases the whole free pages inside each arena
    /// (<c>madvise(MADV_DONTNEED)</c>); with it the arenas stayed at 22 MiB over the 60 replacements.
    /// The trim walks every arena under its lock: 1–20 ms on the loaded 2-core test machine, as long
    /// as the dispose itself. So it runs on the thread pool, not in the caller's dispose, and
    /// disposes that end while one is queued share it.
    /// </summary>
    public static void TrimAfterDispose()
    {
        if (OperatingSystem.IsLinux() && Interlocked.Exchange(ref s_trimQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static _ =>
            {
                // Cleared first: a dispose that ends during this trim queues another.
                Volatile.Write(ref s_trimQueued, 0);
                Trim();
            }, null);
        }
    }

    private static void Trim()
    {
        try
        {
            _ = MallocTrim(0); // 1 = memory released, 0 = none: nothing to act on either way
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without malloc_trim (e.g. musl).
        }
    }

    /// <summary>
    /// Once per process, when the template engine that made the memory image is gone: collects what
    /// it left (the 30 MiB copy of the image, its patched module, its isolate's wrappers, nearly all
    /// on the large object heap) and trims the malloc arenas it used. Left to the GC, that garbage
    /// waited for a gen2 collection, which the large object heap's budget (a multiple of what
    /// survives there) put off for hundreds of requests. Aggressive, so that the freed regions are
    /// decommitted at once: a server's RSS after its first request was 284 MiB with it, 300 with a
    /// forced compacting collection, 316 with a non-compacting one (and 342 before: no collection,
    /// the image copy kept). Costs one full blocking collection (~50 ms here) during the first
    /// sandbox start, which takes seconds.
    /// </summary>
    public static void CollectStartupGarbage()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        if (OperatingSystem.IsLinux())
        {
            Trim();
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);
}
