namespace PyodideEmbedded.Internal;

/// <summary>
/// Lowers the maximum of the memory that a WebAssembly module defines. Pyodide's module defines and
/// exports its own linear memory with a 4 GiB maximum, and that memory lives outside the V8 heap, so
/// no V8 heap limit bounds Python. Rewriting the maximum in the module's memory section (as the
/// bytes are served) makes V8 refuse to grow past it, and Python then raises <c>MemoryError</c>.
/// </summary>
internal static class WasmMemoryLimit
{
    private const int PageSize = 64 * 1024;
    private const byte MemorySectionId = 5;

    /// <summary>Returns a copy of <paramref name="module"/> whose first defined memory may grow to at most <paramref name="maxBytes"/>.</summary>
    /// <exception cref="InvalidDataException">The module has no memory section, or its initial size is above the limit.</exception>
    public static byte[] Apply(ReadOnlySpan<byte> module, long maxBytes)
    {
        var maxPages = (uint)Math.Min(65536, maxBytes / PageSize);
        if (module.Length < 8 || module[0] != 0 || module[1] != (byte)'a' || module[2] != (byte)'s' || module[3] != (byte)'m')
        {
            throw new InvalidDataException("Not a WebAssembly module.");
        }

        var position = 8;
        while (position < module.Length)
        {
            var sectionStart = position;
            var id = module[position++];
            var size = (int)ReadLeb(module, ref position);
            var contentStart = position;
            if (id == MemorySectionId)
            {
                var content = module.Slice(contentStart, size);
                var newContent = RewriteMemorySection(content, maxPages);
                using var output = new MemoryStream(module.Length + 8);
                output.Write(module[..sectionStart]);
                output.WriteByte(MemorySectionId);
                WriteLeb(output, (uint)newContent.Length);
                output.Write(newContent);
                output.Write(module[(contentStart + size)..]);
                return output.ToArray();
            }

            position = contentStart + size;
        }

        throw new InvalidDataException("The WebAssembly module defines no memory.");
    }

    private static byte[] RewriteMemorySection(ReadOnlySpan<byte> content, uint maxPages)
    {
        var position = 0;
        var count = ReadLeb(content, ref position);
        if (count < 1)
        {
            throw new InvalidDataException("The WebAssembly module defines no memory.");
        }

        var flags = content[position++];
        if ((flags & ~0x03) != 0)
        {
            throw new InvalidDataException($"Unsupported memory limits flags 0x{flags:x2} (memory64 or custom page sizes).");
        }

        var minPages = ReadLeb(content, ref position);
        if ((flags & 0x01) != 0)
        {
            ReadLeb(content, ref position); // the old maximum, replaced below
        }

        if (minPages > maxPages)
        {
            throw new InvalidDataException(
                $"The memory limit ({maxPages * (long)PageSize} bytes) is below Pyodide's initial memory ({minPages * (long)PageSize} bytes).");
        }

        using var output = new MemoryStream(content.Length + 8);
        WriteLeb(output, count);
        output.WriteByte((byte)(flags | 0x01));
        WriteLeb(output, minPages);
        WriteLeb(output, maxPages);
        output.Write(content[position..]);
        return output.ToArray();
    }

    private static uint ReadLeb(ReadOnlySpan<byte> bytes, ref int position)
    {
        uint result = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            var b = bytes[position++];
            result |= (uint)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new InvalidDataException("Malformed LEB128 number in the WebAssembly module.");
    }

    private static void WriteLeb(Stream output, uint value)
    {
        do
        {
            var b = (byte)(value & 0x7f);
            value >>= 7;
            output.WriteByte(value == 0 ? b : (byte)(b | 0x80));
        }
        while (value != 0);
    }
}
