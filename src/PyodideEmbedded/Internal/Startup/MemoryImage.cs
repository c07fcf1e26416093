namespace PyodideEmbedded.Internal;

/// <summary>
/// The memory image that sandboxes are restored from (a <see cref="PackedImage"/>), ready to restore.
/// On Linux the memory contents live in one shared file (<see cref="SharedImageFile"/>), mapped
/// copy-on-write over each new sandbox's wasm memory; elsewhere the non-zero pages are written into
/// it: a new wasm memory is zero already, and untouched pages cost neither a page fault nor memory.
/// </summary>
internal sealed class MemoryImage
{
    private readonly byte[] _header;
    private readonly IReadOnlyList<(int Offset, int Length)> _runs;
    // The pages' bytes, kept only where no shared file holds them: on Linux the 15 MiB copy
    // (resident, and a long-lived object on the large object heap) is not needed.
    private readonly ReadOnlyMemory<byte> _data;
    private readonly SharedImageFile? _shared;

    public MemoryImage(PackedImage image)
    {
        _header = image.Header;
        _runs = image.Runs;
        MemoryLength = image.MemoryLength;
        _shared = SharedImageFile.TryCreate(image);
        // A copy: the packed image may live in memory its owner frees (a cache entry being read).
        _data = _shared is null ? image.Data.ToArray() : default;
    }

    /// <summary>Length of the whole snapshot, header included: the buffer Pyodide is handed.</summary>
    public int Length => MemoryOffset + MemoryLength;

    /// <summary>Where the memory contents start in the snapshot (the header's length).</summary>
    public int MemoryOffset => _header.Length;

    public int MemoryLength { get; }

    /// <summary>
    /// The image's memory contents mapped read-only (Linux, with the shared file), for a reset to compare with;
    /// null where there is no shared file to map again over a used memory.
    /// </summary>
    public SharedImageFile? Shared => _shared;

    /// <summary>Writes the header into a zeroed buffer of <see cref="Length"/> bytes.</summary>
    public unsafe void CopyHeaderTo(IntPtr buffer) =>
        _header.CopyTo(new Span<byte>((void*)buffer, MemoryOffset));

    /// <summary>Writes the memory contents into a zeroed wasm memory of at least <see cref="MemoryLength"/> bytes.</summary>
    /// <exception cref="IOException">The shared file could be neither mapped nor read (the start fails).</exception>
    public unsafe void RestoreInto(IntPtr memory)
    {
        if (_shared is not null)
        {
            // Mapping may be refused (e.g. at the process's limit of mappings): then copy from the file.
            if (!_shared.TryMapOver(memory) && !_shared.TryReadInto(memory, _runs))
            {
                throw new IOException("The memory image could not be restored from its shared file.");
            }

            return;
        }

        var source = _data.Span;
        var target = new Span<byte>((void*)memory, MemoryLength);
        var at = 0;
        foreach (var (offset, length) in _runs)
        {
            source.Slice(at, length).CopyTo(target.Slice(offset, length));
            at += length;
        }
    }
}
