using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Keeps glibc from holding on to the large buffers a sandbox start allocates and frees (the memory
/// image, module bytes, the standard library). glibc raises its mmap threshold to the size of every
/// large block freed, up to 32 MiB; after the first start, blocks that size came from malloc arenas
/// instead, which keep their pages once freed: ~16 MiB of resident memory per sandbox (measured:
/// 57.7 → 41.2 MiB PSS). A fixed threshold (glibc's default value) turns the adjustment off.
/// Process-wide, like V8's flags; only on Linux, where glibc is.
/// </summary>
internal static partial class MallocTuning
{
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD
    private const int DefaultThresholdBytes = 128 * 1024;

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

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);
}
