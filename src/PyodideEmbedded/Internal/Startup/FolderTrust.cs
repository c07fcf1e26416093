using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Whether a cache folder and its files could have been written by someone other than this user,
/// in the spirit of OpenSSH's StrictModes. On Linux: the folder and every folder above it must be
/// owned by this user or root, and none writable by group or others (a folder above may be, with the
/// sticky bit, like /tmp); an entry must be a regular file (not a link), owned by this user or root,
/// not writable by group or others. Other Unix systems: the same without the owner checks.
/// Windows: no checks (the default folder is under the user's profile, protected by its ACL).
/// </summary>
internal static partial class FolderTrust
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxTypeModeUid = 0x1 | 0x2 | 0x8;
    private const int GroupOrOtherWrite = 0x10 | 0x02; // S_IWGRP | S_IWOTH
    private const int Sticky = 0x200;
    private const int TypeMask = 0xF000, Directory = 0x4000, RegularFile = 0x8000;

    /// <summary>Null when the folder is trusted, else what is wrong with it.</summary>
    public static string? ProblemWithFolder(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var path = System.IO.Path.GetFullPath(folder);
        if (OperatingSystem.IsLinux() && RealPath(path) is { } real)
        {
            path = real; // the folders that actually hold it, not those of a link to it
        }

        for (var current = path; current is not null; current = System.IO.Path.GetDirectoryName(current))
        {
            if (Stat(current, followLinks: true) is not { } status)
            {
                return $"cannot read the status of '{current}'";
            }

            if ((status.Mode & TypeMask) != Directory)
            {
                return $"'{current}' is not a folder";
            }

            if (!IsThisUserOrRoot(status.Owner))
            {
                return $"'{current}' belongs to another user";
            }

            var writableByOthers = (status.Mode & GroupOrOtherWrite) != 0;
            if (writableByOthers && (current == path || (status.Mode & Sticky) == 0))
            {
                return $"'{current}' is writable by other users";
            }
        }

        return null;
    }

    /// <summary>Null when the file is trusted (in a trusted folder), else what is wrong with it.</summary>
    public static string? ProblemWithFile(string file)
    {
        if (OperatingSystem.IsWindows())
        {
            return new FileInfo(file).LinkTarget is null ? null : $"'{file}' is a link";
        }

        if (Stat(file, followLinks: false) is not { } status)
        {
            return $"cannot read the status of '{file}'";
        }

        if ((status.Mode & TypeMask) != RegularFile)
        {
            return $"'{file}' is not a regular file";
        }

        if (!IsThisUserOrRoot(status.Owner))
        {
            return $"'{file}' belongs to another user";
        }

        return (status.Mode & GroupOrOtherWrite) != 0 ? $"'{file}' is writable by other users" : null;
    }

    // Root can write anything anyway; a folder prepared by root (a container image) is as trusted as the system.
    private static bool IsThisUserOrRoot(uint? owner) => owner is null || owner == 0 || owner == GetEffectiveUserId();

    /// <summary>Mode bits and owner (null where it cannot be read: not Linux).</summary>
    private static (int Mode, uint? Owner)? Stat(string path, bool followLinks)
    {
        if (OperatingSystem.IsLinux())
        {
            Span<byte> buffer = stackalloc byte[256]; // struct statx: 256 bytes on every architecture
            if (Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxTypeModeUid, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return null;
            }

            var owner = MemoryMarshal.Read<uint>(buffer[20..]);
            var mode = MemoryMarshal.Read<ushort>(buffer[28..]);
            return (mode, owner);
        }

        try
        {
            var info = new FileInfo(path);
            if (!followLinks && info.LinkTarget is not null)
            {
                return (0xA000, null); // a link: neither a folder nor a regular file
            }

            var isFolder = System.IO.Directory.Exists(path);
            var mode = (int)(isFolder ? new DirectoryInfo(path).UnixFileMode : info.UnixFileMode);
            return (mode | (isFolder ? Directory : RegularFile), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? RealPath(string path)
    {
        var resolved = RealPathNative(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);
}
