using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A started sandbox's wasm memory, kept so that a reset can put it back: a shared file (the memory image, or once
/// a process has reset a sandbox, a started memory made from it) plus the pages where this sandbox's started memory
/// differs from that file (its own).
/// </summary>
/// <remarks>
/// <para>The memory is the file mapped copy-on-write (the wasmtime way: a memfd image, and madvise). A page the
/// tenant wrote is then a private copy; every other page is still the file's. A reset asks the kernel which pages
/// are private copies (<c>/proc/self/pagemap</c>) and drops just those (<c>MADV_DONTNEED</c>): they read as the file
/// again, and their memory goes back to the kernel. Then it writes its own pages back. So a reset costs in
/// proportion to what the run wrote, and leaves the pages it only read in place for the next run. Linux only.</para>
/// <para>Recording costs little (the start's written pages are the private copies: ~3.5 MiB, copied), so a sandbox
/// that is never reset (a one-shot CLI run) pays almost nothing. At the first reset in the process, the image plus
/// those pages become a second shared file, the started memory, which every sandbox of the process then maps at its
/// first reset: starts are identical to the byte but for a page or two, so each keeps only those.</para>
/// </remarks>
internal sealed partial class PristineMemory
{
    private const int PageSize = 4096;

    // Per image: the started memory, and the pages where it differs from the image.
    private static readonly Dictionary<SharedImageFile, (SharedImageFile File, int[] ChangedPages)> s_started = [];

    private readonly SharedImageFile _image;
    private readonly IntPtr _address;
    private readonly ulong _length;
    private SharedImageFile _base;
    private Dictionary<int, byte[]> _own;

    private PristineMemory(SharedImageFile image, IntPtr address, ulong length, Dictionary<int, byte[]> own)
    {
        _image = image;
        _base = image;
        _address = address;
        _length = length;
        _own = own;
    }

    /// <summary>Bytes of memory this sandbox keeps for itself (where its started memory differs from the shared file).</summary>
    public long OwnBytes => (long)_own.Count * PageSize;

    /// <summary>
    /// Records the memory at <paramref name="memory"/> (<paramref name="length"/> bytes, restored from
    /// <paramref name="image"/>'s shared file) as the state to return to; null where it could not be put back later
    /// (not Linux, no shared file, or the kernel would not say which pages were written).
    /// </summary>
    public static unsafe PristineMemory? TryCapture(MemoryImage image, IntPtr memory, ulong length)
    {
        if (image.Shared is not { } imageFile || memory % PageSize != 0 || length % PageSize != 0 || length > int.MaxValue
            || length < (ulong)imageFile.Length)
        {
            return null;
        }

        // The start's changes are exactly the pages that are private copies now.
        var own = new Dictionary<int, byte[]>();
        var readable = ForEachWrittenRun(memory, length, 0, (from, to) =>
        {
            for (var page = (int)from * PageSize; page < (int)to * PageSize; page += PageSize)
            {
                var bytes = new ReadOnlySpan<byte>((void*)(memory + page), PageSize);
                if (page < imageFile.Length || bytes.ContainsAnyExcept((byte)0))
                {
                    own[page] = bytes.ToArray();
                }
            }

            return true;
        });
        return readable ? new PristineMemory(imageFile, memory, length, own) : null;
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

        if (ReferenceEquals(_base, _image) && UseStartedMemory())
        {
            return TryRestoreAll(memory, length);
        }

        // Only pages of the file's mapping can be told apart; memory that moved (V8 grows it in place on 64-bit
        // hosts, but may not elsewhere) is mapped afresh.
        return memory == _address
            && ForEachWrittenRun(memory, length, DropGapPages, (from, to) => SharedImageFile.TryDropPages(memory + (nint)(from * PageSize), (nuint)((to - from) * PageSize)))
            ? WriteOwnPages(memory)
            : TryRestoreAll(memory, length);
    }

    // Moves this sandbox onto the process's started memory for its image (making it from this sandbox's if there is
    // none yet): its own pages become those where it differs from that. False leaves it on the image.
    private unsafe bool UseStartedMemory()
    {
        (SharedImageFile File, int[] ChangedPages) started;
        lock (s_started)
        {
            if (!s_started.TryGetValue(_image, out started))
            {
                var changed = _own.Where(p => !PageOf(_image, p.Key).SequenceEqual(p.Value)).ToDictionary();
                if (SharedImageFile.TryCreate(_image, (int)_length, changed) is not { } file || file.View == IntPtr.Zero)
                {
                    return false;
                }

                started = (file, [.. changed.Keys]);
                s_started.Add(_image, started);
            }
        }

        if (started.File.View == IntPtr.Zero || (ulong)started.File.Length > _length)
        {
            return false;
        }

        // Where the recorded memory could differ from the started memory: the pages either changed from the image.
        var own = new Dictionary<int, byte[]>();
        foreach (var page in _own.Keys.Union(started.ChangedPages))
        {
            var recorded = _own.TryGetValue(page, out var mine) ? mine : PageOf(_image, page).ToArray();
            if (!PageOf(started.File, page).SequenceEqual(recorded))
            {
                own[page] = recorded;
            }
        }

        _base = started.File;
        _own = own;
        return true;
    }

    // A page of a shared file (zeros past its end).
    private static unsafe ReadOnlySpan<byte> PageOf(SharedImageFile file, int page) =>
        page + PageSize <= file.Length ? new ReadOnlySpan<byte>((void*)(file.View + page), PageSize) : new byte[PageSize];

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
    private const int DropGapPages = 32;

    /// <summary>Calls <paramref name="run"/> with each run (from page, to page) of the memory's pages that are not a
    /// file's (written since it was mapped); false if the kernel would not say which, or <paramref name="run"/> said
    /// false.</summary>
    private static unsafe bool ForEachWrittenRun(IntPtr memory, ulong length, int gapPages, Func<long, long, bool> run)
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

                    // Written. Runs a few clean pages apart are taken as one: each drop costs a TLB flush, and a clean
                    // page dropped costs only a fault if it is read again.
                    if (runStart >= 0 && page - runEnd > gapPages)
                    {
                        if (!run(runStart, runEnd))
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

            return runStart < 0 || run(runStart, runEnd);
        }
        finally
        {
            System.Buffers.ArrayPool<ulong>.Shared.Return(entries);
            _ = Close(fd);
        }
    }

    private const int OpenReadOnly = 0, OpenCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "pread")]
    private static unsafe partial nint Pread(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
