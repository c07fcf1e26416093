using System.Runtime.InteropServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// Sets V8 command-line flags that ClearScript does not expose, through V8's own exported
/// <c>v8::V8::SetFlagsFromString</c> in ClearScript's native library. Flags apply to the whole
/// process and only before V8 starts, so this runs once, before the first engine is created.
/// </summary>
internal static partial class V8Flags
{
    private const string NativeLibrary = "ClearScriptV8.linux-x64";

    /// <summary>Applies the flags on Linux x64, where the symbol's name is known; elsewhere does nothing.</summary>
    public static void Apply(string flags)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return;
        }

        try
        {
            SetFlagsFromString(flags);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Another native build: run with V8's defaults.
        }
    }

    [LibraryImport(NativeLibrary, EntryPoint = "_ZN2v82V818SetFlagsFromStringEPKc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial void SetFlagsFromString(string flags);
}
