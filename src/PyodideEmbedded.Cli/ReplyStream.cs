using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace PyodideEmbedded.Cli;

/// <summary>
/// Makes the protocol writer the only writer of the process's standard output, by construction: the
/// original stdout is duplicated for the replies, and file descriptor 1 is then pointed at stderr. Whatever
/// else writes to "stdout" afterwards (V8's message reporter, ClearScript, the C library, .NET's
/// <see cref="Console.Out"/>, a future dependency) lands on stderr, where it cannot be read as a reply.
/// </summary>
/// <remarks>
/// V8 prints an uncaught exception from a callback it runs outside any call (a FinalizationRegistry
/// cleanup, for one) on stdout, with text the sandbox chose; a client reading line by line would take
/// a forged line for a reply. Call <see cref="Take"/> before the first sandbox starts. On Windows the
/// descriptors are not moved (see the README): the library's own hardening is then the only guard.
/// </remarks>
internal static partial class ReplyStream
{
    private const int StdoutFd = 1;
    private const int StderrFd = 2;
    private const int SetDescriptorFlags = 2; // F_SETFD
    private const int CloseOnExec = 1;        // FD_CLOEXEC

    /// <summary>Takes the process's stdout for the replies; returns the stream to write them to.</summary>
    public static Stream Take(TextWriter diagnostics)
    {
        if (OperatingSystem.IsWindows())
        {
            return Console.OpenStandardOutput();
        }

        var replies = Dup(StdoutFd);
        if (replies < 0 || Dup2(StderrFd, StdoutFd) < 0)
        {
            diagnostics.WriteLine($"pyodide-sandbox: could not reserve stdout for replies (errno {Marshal.GetLastPInvokeError()}); native writes may reach it");
            if (replies >= 0)
            {
                _ = Close(replies);
            }

            return Console.OpenStandardOutput();
        }

        // The sandbox starts no child process, but a descriptor must never leak into one. (fcntl is variadic:
        // declared with fixed arguments it is called correctly on Linux only, so only there.)
        if (OperatingSystem.IsLinux())
        {
            _ = Fcntl(replies, SetDescriptorFlags, CloseOnExec);
        }

        // .NET duplicated fd 1 for Console.Out when it was first used: make it write to the new fd 1 (stderr).
        Console.SetOut(new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true });
        return new DescriptorStream(new SafeFileHandle(replies, ownsHandle: true));
    }

    /// <summary>
    /// Writes with write(2) at the descriptor's shared offset. A FileStream would write a regular file at a
    /// position of its own: in <c>{ echo a; pyodide-sandbox run 1; echo b; } &gt; log</c> the result then
    /// overwrote the shell's lines (the shell shares the offset, which positional writes never advance).
    /// </summary>
    private sealed class DescriptorStream(SafeFileHandle handle) : Stream
    {
        private const int Interrupted = 4; // EINTR

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => !handle.IsClosed;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override unsafe void Write(ReadOnlySpan<byte> buffer)
        {
            var fd = (int)handle.DangerousGetHandle();
            while (!buffer.IsEmpty)
            {
                nint written;
                fixed (byte* bytes = buffer)
                {
                    written = WriteBytes(fd, bytes, buffer.Length);
                }

                if (written < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Interrupted)
                    {
                        continue;
                    }

                    throw new IOException($"Writing a reply failed (errno {errno}).");
                }

                buffer = buffer[(int)written..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // A pipe or a file: write(2) blocks at most until the reader takes the bytes, as Console's own stream does.
            cancellationToken.ThrowIfCancellationRequested();
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                handle.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static partial int Dup(int fd);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int fd, int target);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteBytes(int fd, byte* bytes, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
