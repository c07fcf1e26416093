using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>
/// The memory half of a reset in place, on plain anonymous memory standing in for a wasm memory (Linux: the image
/// is a memfd mapped copy-on-write): whatever a tenant writes, inside the image or past it, is gone after a restore,
/// and the pages it wrote go back to the kernel.
/// </summary>
public sealed partial class PristineMemoryTests
{
    private const int Page = 4096;
    private const int ImagePages = 64;

    [Fact]
    public void Restore_BringsBackTheRecordedBytes_WhateverWasWritten_AndDropsTheWrittenPages()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // resets in place need the memfd image; elsewhere a reset starts a new isolate
        }

        var image = Image();
        using var first = Region(96, image);
        Fill(first, 5, 0x51); // the start's own changes: inside the image, and in memory grown past it
        Fill(first, 70, 0x52);
        var pristine = PristineMemory.TryCapture(image, first.Address, first.Length);
        Assert.NotNull(pristine);
        var recorded = first.Bytes().ToArray();

        Fill(first, 5, 0xAA);   // a page the start changed
        Fill(first, 10, 0xBB);  // an image page
        Fill(first, 80, 0xCC);  // past the image
        Assert.True(pristine.TryRestore(first.Address, first.Length));

        Assert.True(first.Bytes().SequenceEqual(recorded));

        // The second reset drops only what was written since (the first mapped the started memory anew).
        Fill(first, 10, 0xBB);
        Fill(first, 81, 0xCC);
        Assert.True(IsPrivatePage(first.Address + (10 * Page)));
        Assert.True(pristine.TryRestore(first.Address, first.Length));
        Assert.False(IsPrivatePage(first.Address + (10 * Page)));
        Assert.True(first.Bytes().SequenceEqual(recorded));
    }

    [Fact]
    public void SecondSandbox_KeepsOnlyThePagesWhereItsStartDiffers_AndMemoryGrownSinceIsCleared()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var image = Image();
        using var first = Region(96, image);
        Fill(first, 5, 0x51);
        var firstPristine = PristineMemory.TryCapture(image, first.Address, first.Length);
        Assert.NotNull(firstPristine);
        Assert.Equal(Page, firstPristine.OwnBytes); // recorded: the one page its start wrote
        Assert.True(firstPristine.TryRestore(first.Address, first.Length)); // the first reset makes the started memory
        Assert.Equal(0, firstPristine.OwnBytes);

        using var second = Region(128, image);
        Fill(second, 5, 0x51);
        Fill(second, 6, 0x61); // where this start differs
        var pristine = PristineMemory.TryCapture(image, second.Address, 96 * Page);
        Assert.NotNull(pristine);
        var recorded = second.Bytes()[..(96 * Page)].ToArray();

        Fill(second, 100, 0xDD); // memory the tenant grew
        Fill(second, 6, 0xEE);
        Assert.True(pristine.TryRestore(second.Address, second.Length));

        Assert.Equal(Page, pristine.OwnBytes); // on the started memory, only page 6 is its own
        Assert.True(second.Bytes()[..(96 * Page)].SequenceEqual(recorded));
        Assert.False(second.Bytes()[(96 * Page)..].ContainsAnyExcept((byte)0));
        Fill(second, 6, 0x01); // and later resets, by dropped pages alone, bring it back too
        Fill(second, 7, 0x02);
        Assert.True(pristine.TryRestore(second.Address, second.Length));
        Assert.True(second.Bytes()[..(96 * Page)].SequenceEqual(recorded));
    }

    [Fact]
    public void Restore_IntoSmallerMemory_IsRefused()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var image = Image();
        using var memory = Region(96, image);
        var pristine = PristineMemory.TryCapture(image, memory.Address, memory.Length);
        Assert.NotNull(pristine);

        Assert.False(pristine.TryRestore(memory.Address, 80 * Page));
    }

    // A memory image of 64 pages, every other one non-zero (a different image each time: the started memory is per image).
    private static MemoryImage Image()
    {
        var snapshot = new byte[16 + (ImagePages * Page)];
        BinaryPrimitives.WriteUInt32LittleEndian(snapshot.AsSpan(4), 16);
        var seed = Random.Shared.Next();
        for (var page = 0; page < ImagePages; page += 2)
        {
            snapshot.AsSpan(16 + (page * Page), Page).Fill((byte)(seed + page));
            snapshot[16 + (page * Page)] = 1;
        }

        return new MemoryImage(PackedImage.FromSnapshot(snapshot));
    }

    // Anonymous memory holding the image, as a restored sandbox's memory would.
    private static NativeRegion Region(int pages, MemoryImage image)
    {
        var region = new NativeRegion(pages);
        image.RestoreInto(region.Address);
        return region;
    }

    private static void Fill(NativeRegion region, int page, byte value) => region.Bytes().Slice(page * Page, Page).Fill(value);

    private static bool IsPrivatePage(IntPtr address)
    {
        using var pagemap = File.OpenHandle("/proc/self/pagemap");
        var entry = new byte[8];
        RandomAccess.Read(pagemap, entry, (long)((ulong)address / Page * 8));
        var bits = BinaryPrimitives.ReadUInt64LittleEndian(entry);
        return (bits & (1UL << 63)) != 0 && (bits & (1UL << 61)) == 0;
    }

    private sealed partial class NativeRegion : IDisposable
    {
        public NativeRegion(int pages)
        {
            Length = (ulong)pages * Page;
            Address = Mmap(IntPtr.Zero, (nuint)Length, 3, 0x02 | 0x20, -1, 0); // read/write, private anonymous
            Assert.NotEqual(new IntPtr(-1), Address);
        }

        public IntPtr Address { get; }

        public ulong Length { get; }

        public unsafe Span<byte> Bytes() => new((void*)Address, (int)Length);

        public void Dispose() => _ = Munmap(Address, (nuint)Length);

        [LibraryImport("libc", EntryPoint = "mmap")]
        private static partial IntPtr Mmap(IntPtr address, nuint length, int protection, int flags, int fd, long offset);

        [LibraryImport("libc", EntryPoint = "munmap")]
        private static partial int Munmap(IntPtr address, nuint length);
    }
}
