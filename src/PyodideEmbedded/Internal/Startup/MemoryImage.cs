using System.Buffers.Binary;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A Pyodide memory snapshot: a header (magic, header length, hiwire state as JSON, build id)
/// followed by the whole wasm linear memory at the time it was taken. On Linux, restoring maps the
/// memory contents copy-on-write from one shared file (<see cref="SharedImageFile"/>); elsewhere it
/// writes only the pages that are not all zeros: a new wasm memory is zero already, and untouched
/// pages cost neither a page fault nor resident memory.
/// </summary>
internal sealed class MemoryImage
{
    private const int PageSize = 4096;
    private readonly byte[] _header;
    // The whole image, kept only where no shared file holds the memory contents: on Linux the
    // 30 MiB copy (resident, and a long-lived object on the large object heap) is not needed.
    private readonly byte[]? _bytes;
    // Runs of non-zero pages, as (memory offset, length) pairs.
    private readonly (int Offset, int Length)[] _dataRuns;
    private readonly SharedImageFile? _shared;

    private MemoryImage(byte[] bytes, int memoryOffset, (int, int)[] dataRuns)
    {
        MemoryOffset = memoryOffset;
        Length = bytes.Length;
        _header = bytes.AsSpan(0, memoryOffset).ToArray();
        _dataRuns = dataRuns;
        _shared = SharedImageFile.TryCreate(bytes.AsSpan(memoryOffset), dataRuns);
        _bytes = _shared is null ? bytes : null;
    }

    /// <summary>Length of the whole image, header included.</summary>
    public int Length { get; }

    /// <summary>Where the memory contents start in the image (the header's length).</summary>
    public int MemoryOffset { get; }

    public int MemoryLength => Length - MemoryOffset;

    /// <exception cref="InvalidDataException">The bytes are not a snapshot this class understands.</exception>
    public static MemoryImage FromSnapshot(byte[] bytes)
    {
        // Pyodide's layout: uint32 magic, uint32 header length (16-byte aligned), then the header.
        var headerLength = bytes.Length >= 16 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)) : 0;
        if (headerLength < 16 || headerLength > (uint)bytes.Length || headerLength % 16 != 0)
        {
            throw new InvalidDataException("Not a Pyodide memory snapshot.");
        }

        var memory = bytes.AsSpan((int)headerLength);
        var runs = new List<(int, int)>();
        for (var page = 0; page < memory.Length; page += PageSize)
        {
            var length = Math.Min(PageSize, memory.Length - page);
            if (!memory.Slice(page, length).ContainsAnyExcept((byte)0))
            {
                continue;
            }

            if (runs.Count > 0 && runs[^1] is var (offset, runLength) && offset + runLength == page)
            {
                runs[^1] = (offset, runLength + length);
            }
            else
            {
                runs.Add((page, length));
            }
        }

        return new MemoryImage(bytes, (int)headerLength, [.. runs]);
    }

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
            if (!_shared.TryMapOver(memory) && !_shared.TryReadInto(memory, _dataRuns))
            {
                throw new IOException("The memory image could not be restored from its shared file.");
            }

            return;
        }

        var source = _bytes.AsSpan(MemoryOffset);
        var target = new Span<byte>((void*)memory, MemoryLength);
        foreach (var (offset, length) in _dataRuns)
        {
            source.Slice(offset, length).CopyTo(target.Slice(offset, length));
        }
    }
}
