using System.Buffers.Binary;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A Pyodide memory snapshot without its zero pages: Pyodide's header (magic, header length, hiwire
/// state as JSON, build id), the length of the wasm memory it was taken from, and the runs of pages
/// that are not all zeros, their bytes back to back. About half of a booted interpreter's memory is
/// zeros, which a new wasm memory already is. This is also the form kept on disk (<see cref="CacheFolder"/>).
/// </summary>
internal sealed class PackedImage
{
    private const int PageSize = 4096;
    private const int MaxHeaderBytes = 64 * 1024 * 1024;

    private PackedImage(byte[] header, int memoryLength, (int Offset, int Length)[] runs, ReadOnlyMemory<byte> data)
    {
        Header = header;
        MemoryLength = memoryLength;
        Runs = runs;
        Data = data;
    }

    /// <summary>Pyodide's snapshot header; its length is where the memory starts in the snapshot.</summary>
    public byte[] Header { get; }

    public int MemoryLength { get; }

    /// <summary>Where the memory is not zero, as (offset, length), in order and apart.</summary>
    public IReadOnlyList<(int Offset, int Length)> Runs { get; }

    /// <summary>The bytes of <see cref="Runs"/>, back to back.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <exception cref="InvalidDataException">The bytes are not a snapshot this class understands.</exception>
    public static PackedImage FromSnapshot(ReadOnlySpan<byte> snapshot)
    {
        // Pyodide's layout: uint32 magic, uint32 header length (16-byte aligned), then the header.
        var headerLength = snapshot.Length >= 16 ? BinaryPrimitives.ReadUInt32LittleEndian(snapshot[4..]) : 0;
        if (headerLength < 16 || headerLength > (uint)snapshot.Length || headerLength % 16 != 0)
        {
            throw new InvalidDataException("Not a Pyodide memory snapshot.");
        }

        var memory = snapshot[(int)headerLength..];
        var runs = new List<(int Offset, int Length)>();
        var dataLength = 0;
        for (var page = 0; page < memory.Length; page += PageSize)
        {
            var length = Math.Min(PageSize, memory.Length - page);
            if (!memory.Slice(page, length).ContainsAnyExcept((byte)0))
            {
                continue;
            }

            dataLength += length;
            if (runs.Count > 0 && runs[^1] is var (offset, runLength) && offset + runLength == page)
            {
                runs[^1] = (offset, runLength + length);
            }
            else
            {
                runs.Add((page, length));
            }
        }

        var data = GC.AllocateUninitializedArray<byte>(dataLength);
        var at = 0;
        foreach (var (offset, length) in runs)
        {
            memory.Slice(offset, length).CopyTo(data.AsSpan(at));
            at += length;
        }

        return new PackedImage(snapshot[..(int)headerLength].ToArray(), memory.Length, [.. runs], data);
    }

    /// <summary>Writes the form that <see cref="Read"/> reads: lengths, the header, the runs, their bytes.</summary>
    public void WriteTo(Stream output)
    {
        void Write(int value)
        {
            Span<byte> number = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(number, value);
            output.Write(number);
        }

        Write(Header.Length);
        output.Write(Header);
        Write(MemoryLength);
        Write(Runs.Count);
        foreach (var (offset, length) in Runs)
        {
            Write(offset);
            Write(length);
        }

        output.Write(Data.Span);
    }

    /// <summary>Reads what <see cref="WriteTo"/> wrote, checking every length and offset against the others.</summary>
    /// <exception cref="InvalidDataException">The bytes do not describe a consistent image.</exception>
    public static PackedImage Read(ReadOnlyMemory<byte> image)
    {
        var bytes = image.Span;
        var position = 0;
        int Next(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length - position < 4)
            {
                throw new InvalidDataException("The image ends early.");
            }

            var value = BinaryPrimitives.ReadInt32LittleEndian(bytes[position..]);
            position += 4;
            return value;
        }

        var headerLength = Next(bytes);
        if (headerLength < 16 || headerLength % 16 != 0 || headerLength > MaxHeaderBytes || headerLength > bytes.Length - position)
        {
            throw new InvalidDataException("The image's header length is out of range.");
        }

        var header = bytes.Slice(position, headerLength).ToArray();
        position += headerLength;
        var memoryLength = Next(bytes);
        var runCount = Next(bytes);
        if (memoryLength <= 0 || memoryLength % PageSize != 0 || runCount < 0 || runCount > memoryLength / PageSize)
        {
            throw new InvalidDataException("The image's memory length or run count is out of range.");
        }

        var runs = new (int Offset, int Length)[runCount];
        long end = 0, dataLength = 0;
        for (var i = 0; i < runCount; i++)
        {
            var (offset, length) = (Next(bytes), Next(bytes));
            // In order, apart, page-aligned and inside the memory: so restoring writes only within it.
            if (offset < end || offset % PageSize != 0 || length <= 0 || length % PageSize != 0 || (long)offset + length > memoryLength)
            {
                throw new InvalidDataException("The image's runs overlap or leave its memory.");
            }

            runs[i] = (offset, length);
            end = (long)offset + length;
            dataLength += length;
        }

        if (bytes.Length - position != dataLength)
        {
            throw new InvalidDataException("The image's data does not match its runs.");
        }

        return new PackedImage(header, memoryLength, runs, image[position..]);
    }
}
