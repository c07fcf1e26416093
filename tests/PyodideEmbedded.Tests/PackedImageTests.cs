using System.Buffers.Binary;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>The memory image's packed form: zero pages dropped, and every length and offset re-checked when read back.</summary>
public sealed class PackedImageTests
{
    private const int Page = 4096;

    [Fact]
    public void FromSnapshot_KeepsOnlyTheNonZeroPages_AndReadsBackTheSame()
    {
        var snapshot = Snapshot(headerLength: 32, pages: 8, nonZeroPages: [1, 2, 5]);

        var packed = PackedImage.FromSnapshot(snapshot);
        var read = PackedImage.Read(Write(packed));

        Assert.Equal([(1 * Page, 2 * Page), (5 * Page, Page)], read.Runs);
        Assert.Equal(8 * Page, read.MemoryLength);
        Assert.Equal(snapshot[..32], read.Header);
        Assert.Equal(Unpack(read), snapshot[32..]);
    }

    [Fact]
    public void FromSnapshot_NotASnapshot_Throws()
    {
        Assert.Throws<InvalidDataException>(() => PackedImage.FromSnapshot(new byte[10]));
        var badHeader = Snapshot(headerLength: 32, pages: 1, nonZeroPages: []);
        BinaryPrimitives.WriteUInt32LittleEndian(badHeader.AsSpan(4), 33); // not 16-aligned
        Assert.Throws<InvalidDataException>(() => PackedImage.FromSnapshot(badHeader));
    }

    // Each case rewrites one field of a valid packed image (offsets: header length 0, header 4..36,
    // memory length 36, run count 40, first run 44/48, second run 52/56, data 60...).
    [Theory]
    [InlineData(0, 8)]                   // header length not a multiple of 16
    [InlineData(0, 1 << 30)]             // header longer than the bytes
    [InlineData(36, 3 * Page + 1)]       // memory length not whole pages
    [InlineData(36, 4 * Page)]           // a run past the end of memory
    [InlineData(40, 3)]                  // more runs than written
    [InlineData(44, 5 * Page)]           // first run after the second: out of order
    [InlineData(48, 5 * Page)]           // runs overlap
    [InlineData(52, 6 * Page)]           // run outside memory
    [InlineData(56, 100)]                // run length not whole pages
    [InlineData(56, -Page)]              // negative length
    public void Read_InconsistentImage_Throws(int offset, int value)
    {
        var bytes = Write(PackedImage.FromSnapshot(Snapshot(headerLength: 32, pages: 6, nonZeroPages: [1, 5])));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), value);

        Assert.Throws<InvalidDataException>(() => PackedImage.Read(bytes));
    }

    [Fact]
    public void Read_DataShorterOrLongerThanTheRuns_Throws()
    {
        var bytes = Write(PackedImage.FromSnapshot(Snapshot(headerLength: 32, pages: 6, nonZeroPages: [1, 5])));

        Assert.Throws<InvalidDataException>(() => PackedImage.Read(bytes.AsMemory(..^1)));
        Assert.Throws<InvalidDataException>(() => PackedImage.Read(bytes.Append((byte)0).ToArray()));
        Assert.Throws<InvalidDataException>(() => PackedImage.Read(bytes.AsMemory(..30)));
    }

    private static byte[] Snapshot(int headerLength, int pages, int[] nonZeroPages)
    {
        var bytes = new byte[headerLength + (pages * Page)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, 0x12345678);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)headerLength);
        foreach (var page in nonZeroPages)
        {
            Random.Shared.NextBytes(bytes.AsSpan(headerLength + (page * Page), Page));
        }

        return bytes;
    }

    private static byte[] Write(PackedImage image)
    {
        using var stream = new MemoryStream();
        image.WriteTo(stream);
        return stream.ToArray();
    }

    private static byte[] Unpack(PackedImage image)
    {
        var memory = new byte[image.MemoryLength];
        var at = 0;
        foreach (var (offset, length) in image.Runs)
        {
            image.Data.Span.Slice(at, length).CopyTo(memory.AsSpan(offset));
            at += length;
        }

        return memory;
    }
}
