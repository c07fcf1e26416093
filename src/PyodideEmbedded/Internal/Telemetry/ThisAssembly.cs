using System.Reflection;

namespace PyodideEmbedded.Internal;

internal static class ThisAssembly
{
    /// <summary>The library's informational version (without the source revision), for the meter and activity source.</summary>
    public static readonly string Version =
        typeof(ThisAssembly).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
