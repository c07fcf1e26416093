using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A started sandbox's wasm memory, kept so that a reset can put it back: a shared file of a started memory
/// (made from the first sandbox started from an image, and shared by all later ones: their starts are the same
/// to the byte, but for a page or two) plus the pages where this sandbox's start differs from it (its own, few).
/// </summary>
/// <remarks>
/// Once recorded, the memory is that file mapped copy-on-write (the wasmtime way: a memfd image, and madvise).
/// A page the tenant wrote is then a private copy; every other page is still the file's. A reset asks the kernel
/// which pages are private copies (<c>/proc/self/pagemap</c>) and drops just those (<c>MADV_DONTNEED</c>): they
/// read as the file again, and their memory goes back to the kernel. So a reset costs in proportion to what the
/// run wrote, and leaves the pages it only read in place for the next run. Linux only.
/// </remarks>
internal sealed partial class PristineMemory
{
    private const int PageSize = 4096;

    // One started memory per image, made from the first sandbox that asks (sandboxes with other packages or host
    // functions differ from it in more pages, which they keep themselves).
    private static readonly Dictionary<SharedImageFile, SharedImageFile> s_started = [];

    private readonly SharedImageFile _base;
    private readonly IntPtr _address;
    private readonly ulong _length;
    private readonly (int Offset, byte[] Bytes)[] _own;

    private PristineMemory(SharedImageFile baseFile, IntPtr address, ulong length, (int, byte[])[] own)
    {
        _base = baseFile;
        _address = address;
        _length = length;
        _own = own;
    }

    /// <summary>Bytes of memory this sandbox keeps for itself (where its start differs from the shared one).</summary>
    public long OwnBytes => _own.Sum(static c => (long)c.Bytes.Length);

    /// <summary>
    /// Records the memory at <paramref name="memory"/> (<paramref name="length"/> bytes) as the state to return to,
    /// and maps it afresh from the shared file; null where it could not be put back later (not Linux, or the kernel
    /// refused a step), and the memory is then as it was.
    /// </summary>
    public static unsafe PristineMemory? TryCapture(MemoryImage image, IntPtr memory, ulong length)
    {
        if (image.Shared is not { } imageFile || memory % PageSize != 0 || length % PageSize != 0 || length > int.MaxValue)
        {
            return null;
        }

        var baseFile = StartedMemory(imageFile, memory, (int)length);
        var view = baseFile.View;
        if (view == IntPtr.Zero || length < (ulong)baseFile.Length)
        {
            return null;
        }

        var own = new List<(int, byte[])>();
        var used = new ReadOnlySpan<byte>((void*)memory, (int)length);
        var original = new ReadOnlySpan<byte>((void*)view, baseFile.Length);
        var runStart = -1;
        for (var page = 0; page <= (int)length; page += PageSize)
        {
            var differs = page < (int)length && (page >= baseFile.Length
                ? used.Slice(page, PageSize).ContainsAnyExcept((byte)0)
                : !used.Slice(page, PageSize).SequenceEqual(original.Slice(page, PageSize)));
            if (differs && runStart < 0)
            {
                runStart = page;
            }
            else if (!differs && runStart >= 0)
            {
                own.Add((runStart, used[runStart..page].ToArray()));
                runStart = -1;
            }
        }

        var pristine = new PristineMemory(baseFile, memory, length, [.. own]);
        // From here on every page is the file's until written: what TryRestore relies on.
        return pristine.TryRestoreAll(memory, length) ? pristine : null;
    }

    // The shared started memory for this image: made from this memory if there is none yet; the image itself if
    // the kernel refuses to make one.
    private static SharedImageFile StartedMemory(SharedImageFile imageFile, IntPtr memory, int length)
    {
        lock (s_started)
        {
            if (!s_started.TryGetValue(imageFile, out var started))
            {
                started = SharedImageFile.TryCreate(memory, length) ?? imageFile;
                s_started.Add(imageFile, started);
            }

            return started;
        }
    }

    /// <summary>
    /// Puts the recorded memory back at <paramref name="memory"/> (the same wasm memory, now
    /// <paramref name="length"/> bytes: it never shrinks), dropping the pages written since. False when the kernel
    /// refused a step: the memory is then in no known state, and the sandbox must not be used again.
    /// </summary>
    public bool TryRestore(IntPtr memory, ulong length)
    {
        if (length < _length || length % PageSize != 0)
        {
            return false;
        }

        // Only pages of the file's mapping can be told apart; memory that moved (V8 grows it in place on 64-bit
        // hosts, but may not elsewhere) is mapped afresh.
        return memory == _address && DropWrittenPages(memory, length) ? WriteOwnPages(memory) : TryRestoreAll(memory, length);
    }

    // The whole memory mapped from the file again, and everything past it dropped.
    private bool TryRestoreAll(IntPtr memory, ulong length) =>
        _base.TryMapOver(memory)
        && SharedImageFile.TryDropPages(memory + _base.Length, (nuint)(length - (ulong)_base.Length))
        && WriteOwnPages(memory);

    private unsafe bool WriteOwnPages(IntPtr memory)
    {
        foreach (var (offset, bytes) in _own)
        {
            bytes.CopyTo(new Span<byte>((byte*)memory + offset, bytes.Length));
        }

        return true;
    }

    // Pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst): present, swapped, and "file page or shared
    // anonymous". A private copy made by a write is present (or swapped) and not a file page.
    private const ulong Present = 1UL << 63, Swapped = 1UL << 62, FilePage = 1UL << 61;

    private const int PagesPerRead = 8192; // 64 KiB of entries
    private const int GapPages = 32;

    /// <summary>Drops every page of the memory that is not the file's (written since the last reset); false if the
    /// kernel would not say which (no pagemap) or refused.</summary>
    private static unsafe bool DropWrittenPages(IntPtr memory, ulong length)
    {
        var fd = Open("/proc/self/pagemap", OpenReadOnly | OpenCloseOnExec);
        if (fd < 0)
        {
            return false;
        }

        var entries = System.Buffers.ArrayPool<ulong>.Shared.Rent(PagesPerRead);
        try
        {
            var pages = (long)(length / PageSize);
            var firstPage = (long)((ulong)memory / PageSize);
            var runStart = -1L;
            var runEnd = -1L;
            for (var chunk = 0L; chunk < pages; chunk += PagesPerRead)
            {
                var count = (int)Math.Min(PagesPerRead, pages - chunk);
                nint read;
                fixed (ulong* buffer = entries)
                {
                    read = Pread(fd, (byte*)buffer, count * sizeof(ulong), (firstPage + chunk) * sizeof(ulong));
                }

                if (read != count * sizeof(ulong))
                {
                    return false;
                }

                for (var i = 0; i < count; i++)
                {
                    var page = chunk + i;
                    if ((entries[i] & (Present | Swapped)) == 0 || (entries[i] & FilePage) != 0)
                    {
                        continue; // the file's page, or none
                    }

                    // Written. Runs a few clean pages apart are dropped as one: each call costs a TLB flush, a
                    // clean page dropped costs only a fault if it is read again.
                    if (runStart >= 0 && page - runEnd > GapPages)
                    {
                        if (!Drop(memory, runStart, runEnd))
                        {
                            return false;
                        }

                        runStart = -1;
                    }

                    if (runStart < 0)
                    {
                        runStart = page;
                    }

                    runEnd = page + 1;
                }
            }

            return runStart < 0 || Drop(memory, runStart, runEnd);
        }
        finally
        {
            System.Buffers.ArrayPool<ulong>.Shared.Return(entries);
            _ = Close(fd);
        }
    }

    private static bool Drop(IntPtr memory, long fromPage, long toPage) =>
        SharedImageFile.TryDropPages(memory + (nint)(fromPage * PageSize), (nuint)((toPage - fromPage) * PageSize));

    private const int OpenReadOnly = 0, OpenCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "pread")]
    private static unsafe partial nint Pread(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
