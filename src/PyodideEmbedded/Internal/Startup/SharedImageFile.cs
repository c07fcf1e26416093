using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Linux only: a memory image's contents in a sealed in-memory file (memfd), mapped copy-on-write
/// over a new sandbox's wasm memory instead of being copied into it. Every sandbox of the process
/// then shares the image's pages until it writes to one (it gets a private copy of that page only),
/// so a start skips the copy and its page faults, and an idle sandbox holds only the pages it changed.
/// The file is sealed: not even the host can change it once written, and no sandbox's writes reach it.
/// </summary>
internal sealed partial class SharedImageFile
{
    private const int PageSize = 4096;
    private const uint MfdCloexec = 1, MfdAllowSealing = 2;
    private const int FAddSeals = 1033;
    private const int SealAll = 1 | 2 | 4 | 8; // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
    private const int ProtReadWrite = 1 | 2;
    private const int MapPrivateFixed = 0x02 | 0x10;

    private readonly int _fd;

    private SharedImageFile(int fd, int length)
    {
        _fd = fd;
        Length = length;
    }

    public int Length { get; }

    /// <summary>The file, or null where it cannot be made (not Linux, or the kernel refused).</summary>
    public static unsafe SharedImageFile? TryCreate(PackedImage image)
    {
        if (!OperatingSystem.IsLinux() || image.MemoryLength % PageSize != 0)
        {
            return null;
        }

        var fd = MemfdCreate("pyodide-embedded-image", MfdCloexec | MfdAllowSealing);
        if (fd < 0)
        {
            return null;
        }

        // Only the runs are written: the rest of the file stays a hole, which reads as zeros.
        var written = Ftruncate(fd, image.MemoryLength) == 0;
        fixed (byte* data = image.Data.Span)
        {
            var at = 0;
            foreach (var (offset, length) in image.Runs)
            {
                for (var done = 0; written && done < length;)
                {
                    var count = Pwrite(fd, data + at + done, (nint)(length - done), offset + done);
                    written = count > 0;
                    done += (int)count;
                }

                at += length;
            }
        }

        if (!written || Fcntl(fd, FAddSeals, SealAll) != 0)
        {
            _ = Close(fd); // nothing more can be done if even this fails
            return null;
        }

        return new SharedImageFile(fd, image.MemoryLength);
    }

    /// <summary>
    /// A file of <paramref name="length"/> bytes holding <paramref name="image"/>'s contents with
    /// <paramref name="pages"/> (offset, 4 KiB of bytes) written over them, or null where it cannot be made: a
    /// started sandbox's memory, which every later reset maps.
    /// </summary>
    public static unsafe SharedImageFile? TryCreate(SharedImageFile image, int length, IReadOnlyDictionary<int, byte[]> pages)
    {
        if (!OperatingSystem.IsLinux() || length % PageSize != 0 || length < image.Length || image.View == IntPtr.Zero)
        {
            return null;
        }

        var fd = MemfdCreate("pyodide-embedded-started", MfdCloexec | MfdAllowSealing);
        if (fd < 0)
        {
            return null;
        }

        // The image's non-zero runs, then the pages over them; the rest stays a hole, which reads as zeros.
        var written = Ftruncate(fd, length) == 0;
        var source = new ReadOnlySpan<byte>((void*)image.View, image.Length);
        var runStart = -1;
        for (var page = 0; written && page <= image.Length; page += PageSize)
        {
            var zero = page == image.Length || !source.Slice(page, PageSize).ContainsAnyExcept((byte)0);
            if (!zero && runStart < 0)
            {
                runStart = page;
            }
            else if (zero && runStart >= 0)
            {
                written = WriteAll(fd, (byte*)image.View + runStart, page - runStart, runStart);
                runStart = -1;
            }
        }

        foreach (var (offset, bytes) in pages)
        {
            fixed (byte* data = bytes)
            {
                written = written && WriteAll(fd, data, bytes.Length, offset);
            }
        }

        if (!written || Fcntl(fd, FAddSeals, SealAll) != 0)
        {
            _ = Close(fd);
            return null;
        }

        return new SharedImageFile(fd, length);
    }

    private static unsafe bool WriteAll(int fd, byte* data, int length, long offset)
    {
        for (var done = 0; done < length;)
        {
            var count = Pwrite(fd, data + done, length - done, offset + done);
            if (count <= 0)
            {
                return false;
            }

            done += (int)count;
        }

        return true;
    }

    /// <summary>
    /// Replaces the first <see cref="Length"/> bytes at <paramref name="memory"/> (a wasm memory's
    /// start, at least that long, owned by the caller) with a private copy-on-write mapping of the file.
    /// Returns false, leaving the memory as it was, when the kernel refuses.
    /// </summary>
    public bool TryMapOver(IntPtr memory)
    {
        if (memory % PageSize != 0)
        {
            return false;
        }

        return Mmap(memory, (nuint)Length, ProtReadWrite, MapPrivateFixed, _fd, 0) == memory;
    }

    /// <summary>
    /// Copies the file's non-zero runs into <paramref name="memory"/> (a zeroed wasm memory at least
    /// <see cref="Length"/> bytes long): the way to restore when <see cref="TryMapOver"/> is refused.
    /// </summary>
    public unsafe bool TryReadInto(IntPtr memory, IEnumerable<(int Offset, int Length)> dataRuns)
    {
        var start = (byte*)memory;
        foreach (var (offset, length) in dataRuns)
        {
            for (var done = 0; done < length;)
            {
                var count = Pread(_fd, start + offset + done, (nint)(length - done), offset + done);
                if (count <= 0)
                {
                    return false;
                }

                done += (int)count;
            }
        }

        return true;
    }

    private IntPtr _view;

    /// <summary>
    /// The file's contents, mapped read-only and shared (made once, kept for the process's life: the
    /// page cache's pages, no copy), to compare a sandbox's memory with; zero when the kernel refuses.
    /// </summary>
    public IntPtr View
    {
        get
        {
            if (_view == IntPtr.Zero)
            {
                var view = Mmap(IntPtr.Zero, (nuint)Length, ProtRead, MapShared, _fd, 0);
                if (view != MapFailed && Interlocked.CompareExchange(ref _view, view, IntPtr.Zero) != IntPtr.Zero)
                {
                    _ = Munmap(view, (nuint)Length); // another thread made it first
                }
            }

            return _view;
        }
    }

    /// <summary>
    /// Gives the pages of [<paramref name="start"/>, +<paramref name="length"/>) (page-aligned, private anonymous
    /// memory such as a wasm memory's) back to the kernel: they read as zeros afterwards and hold no memory.
    /// </summary>
    public static bool TryDropPages(IntPtr start, nuint length) =>
        length == 0 || (start % PageSize == 0 && length % PageSize == 0 && Madvise(start, length, MadvDontNeed) == 0);

    private const int ProtRead = 1;
    private const int MapShared = 0x01;
    private const int MadvDontNeed = 4;
    private static readonly IntPtr MapFailed = new(-1);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(IntPtr address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(IntPtr address, nuint length, int advice);

    // The file lives as long as the process's startup cache: sandboxes may be mapping it at any time.

    [LibraryImport("libc", EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate")]
    private static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "pwrite")]
    private static unsafe partial nint Pwrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "pread")]
    private static unsafe partial nint Pread(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "fcntl")]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial IntPtr Mmap(IntPtr address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
