using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;

namespace PyodideEmbedded.Internal;

/// <summary>
/// The only source of modules for <c>import</c>: the verified <c>.mjs</c> assets, by exact name under a
/// virtual prefix. No file system, no URL, no path arithmetic: anything else is refused, so script can
/// never use <c>import()</c> to read the host.
/// </summary>
internal sealed class LockedModuleLoader(AssetStore assets, string prefix) : DocumentLoader
{
    // Each module's text, decoded once per asset (keyed by the verified bytes, which live as long as
    // their AssetStore). Decoding per sandbox start made ~2.6 MB of strings (pyodide.asm.mjs is
    // 1.25 MB of UTF-8, 2.5 MB as UTF-16) on the large object heap at every start; the GC collects
    // those only at a gen2 collection, so a server replacing sandboxes grew by ~2.8 MiB per
    // replacement until one came (measured: +161 MiB of GC heap over 60 replacements).
    // The document's identity is kept too: ClearScript finds a module compiled ahead of the import
    // (with V8's code cache, see PyodideEngine) by that identity and the text.
    private static readonly ConditionalWeakTable<byte[], Module> s_modules = [];

    /// <summary>A module as every engine sees it: one identity and one text per verified asset.</summary>
    internal sealed record Module(DocumentInfo Info, string Text);

    public override Task<Document> LoadDocumentAsync(
        DocumentSettings settings, DocumentInfo? sourceInfo, string specifier, DocumentCategory category, DocumentContextCallback contextCallback)
    {
        try
        {
            return Task.FromResult(LoadDocument(settings, sourceInfo, specifier, category, contextCallback));
        }
        catch (Exception e)
        {
            return Task.FromException<Document>(e);
        }
    }

    public override Document LoadDocument(
        DocumentSettings settings, DocumentInfo? sourceInfo, string specifier, DocumentCategory category, DocumentContextCallback contextCallback)
    {
        var name = ResolveName(specifier, prefix);
        var module = name is null ? null : Find(name);
        if (module is null || category != ModuleCategory.Standard)
        {
            throw new UnauthorizedAccessException("The sandbox can import only its own Pyodide modules.");
        }

        return new StringDocument(module.Info, module.Text);
    }

    /// <summary>The module asset <paramref name="name"/> (an exact manifest name ending in .mjs), or null.</summary>
    internal Module? Find(string name)
    {
        var bytes = assets.TryGet(name);
        if (bytes is null || !name.EndsWith(".mjs", StringComparison.Ordinal))
        {
            return null;
        }

        // The prefix is the same for every loader (PyodideEngine's), so one identity per asset is right.
        return s_modules.GetValue(bytes, b => new Module(
            new DocumentInfo(new Uri("file://" + prefix + name)) { Category = ModuleCategory.Standard },
            Encoding.UTF8.GetString(b)));
    }

    /// <summary>Returns the asset name for <c>PREFIX + name.mjs</c> (optionally as a <c>file://</c> URL), else null.</summary>
    internal static string? ResolveName(string specifier, string prefix)
    {
        var path = specifier.StartsWith("file://", StringComparison.Ordinal) ? specifier["file://".Length..] : specifier;
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var name = path[prefix.Length..];
        return AssetManifest.IsPlainFileName(name) && name.EndsWith(".mjs", StringComparison.Ordinal) ? name : null;
    }
}
