using System.Buffers;

namespace PyodideEmbedded.Cli;

/// <summary>
/// Reads lines of bytes from a stream, never holding more than a fixed number of bytes: a longer line is
/// skipped up to its newline and reported as too long, so an endless line cannot exhaust memory. Lines
/// end at LF; a CR before it is dropped, and so is a UTF-8 byte-order mark at the start of the stream.
/// The bytes are handed on undecoded: the request parser checks their UTF-8.
/// </summary>
internal sealed class BoundedLineReader(Stream input, int maxLineBytes)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly ArrayBufferWriter<byte> _line = new();
    private int _start;
    private int _end;
    private bool _eof;
    private bool _atStart = true;

    internal readonly record struct Line(ReadOnlyMemory<byte> Bytes, bool TooLong)
    {
        /// <summary>Empty or only JSON whitespace: such a line gets no reply.</summary>
        public bool IsBlank => !TooLong && Bytes.Span.Trim(" \t\r"u8).IsEmpty;
    }

    public async Task<Line?> ReadLineAsync(CancellationToken cancellationToken)
    {
        _line.ResetWrittenCount();
        var tooLong = false;
        while (true)
        {
            if (_start == _end)
            {
                if (_eof)
                {
                    return _line.WrittenCount > 0 || tooLong ? Finish(tooLong) : null;
                }

                _start = 0;
                _end = await input.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                {
                    _eof = true;
                    continue;
                }
            }

            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            var stop = newline < 0 ? _end : newline;
            if (!tooLong)
            {
                if (_line.WrittenCount + (stop - _start) > maxLineBytes)
                {
                    tooLong = true;
                    _line.ResetWrittenCount();
                }
                else
                {
                    _line.Write(_buffer.AsSpan(_start, stop - _start));
                }
            }

            _start = newline < 0 ? _end : newline + 1;
            if (newline >= 0)
            {
                return Finish(tooLong);
            }
        }
    }

    private Line Finish(bool tooLong)
    {
        var first = _atStart;
        _atStart = false;
        if (tooLong)
        {
            return new Line(ReadOnlyMemory<byte>.Empty, true);
        }

        var bytes = _line.WrittenSpan;
        if (first && bytes.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }

        if (bytes.Length > 0 && bytes[^1] == '\r')
        {
            bytes = bytes[..^1];
        }

        return new Line(bytes.ToArray(), false);
    }
}
