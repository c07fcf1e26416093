namespace PyodideEmbedded.Internal;

/// <summary>
/// A started sandbox's wasm memory, kept so that a reset can put it back: the memory image it was restored
/// from (shared by every sandbox of the process) plus the pages that its start changed (its own, small).
/// A reset maps the image copy-on-write over the memory again, which drops every page the tenant wrote
/// (the kernel frees them), gives the pages past the image back to the kernel, and writes the start's pages
/// back: the wasmtime way (a memfd image and madvise), at a cost that grows with the memory used, not with
/// the memory's size.
/// </summary>
internal sealed class PristineMemory
{
    private const int PageSize = 4096;

    private readonly SharedImageFile _image;
    private readonly ulong _length;
    private readonly (int Offset, byte[] Bytes)[] _changed;

    private PristineMemory(SharedImageFile image, ulong length, (int, byte[])[] changed)
    {
        _image = image;
        _length = length;
        _changed = changed;
    }

    /// <summary>Bytes the start changed, kept per sandbox.</summary>
    public long ChangedBytes => _changed.Sum(static c => (long)c.Bytes.Length);

    /// <summary>
    /// Records the memory at <paramref name="memory"/> (<paramref name="length"/> bytes) as the state to return to;
    /// null where it could not be put back later (no shared image file: not Linux, or the kernel refused it).
    /// </summary>
    public static unsafe PristineMemory? TryCapture(MemoryImage image, IntPtr memory, ulong length)
    {
        var shared = image.Shared;
        var view = shared?.View ?? IntPtr.Zero;
        if (shared is null || view == IntPtr.Zero
            || memory % PageSize != 0 || length % PageSize != 0 || length < (ulong)shared.Length || length > int.MaxValue)
        {
            return null;
        }

        var changed = new List<(int, byte[])>();
        var used = new ReadOnlySpan<byte>((void*)memory, (int)length);
        var original = new ReadOnlySpan<byte>((void*)view, shared.Length);
        var runStart = -1;
        for (var page = 0; page <= (int)length; page += PageSize)
        {
            var differs = page < (int)length && (page >= shared.Length
                ? used.Slice(page, PageSize).ContainsAnyExcept((byte)0)
                : !used.Slice(page, PageSize).SequenceEqual(original.Slice(page, PageSize)));
            if (differs && runStart < 0)
            {
                runStart = page;
            }
            else if (!differs && runStart >= 0)
            {
                changed.Add((runStart, used[runStart..page].ToArray()));
                runStart = -1;
            }
        }

        return new PristineMemory(shared, length, [.. changed]);
    }

    /// <summary>
    /// Puts the recorded memory back at <paramref name="memory"/> (the same wasm memory, now
    /// <paramref name="length"/> bytes: it never shrinks). False when the kernel refused a step: the memory is then
    /// in no known state, and the sandbox must not be used again.
    /// </summary>
    public unsafe bool TryRestore(IntPtr memory, ulong length)
    {
        if (length < _length || length % PageSize != 0 || !_image.TryMapOver(memory)
            || !SharedImageFile.TryDropPages(memory + _image.Length, (nuint)(length - (ulong)_image.Length)))
        {
            return false;
        }

        foreach (var (offset, bytes) in _changed)
        {
            bytes.CopyTo(new Span<byte>((byte*)memory + offset, bytes.Length));
        }

        return true;
    }
}
