using System.Collections.Concurrent;

namespace PyodideEmbedded.Internal;

/// <summary>What is loaded from a folder once per process (assets, packages); a failed load is retried on the next call.</summary>
internal sealed class OncePerFolder<T>(Func<string, T> load)
{
    private readonly ConcurrentDictionary<string, Lazy<T>> _byFolder = new(StringComparer.Ordinal);

    public T Get(string folder)
    {
        var fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var lazy = _byFolder.GetOrAdd(fullPath, p => new Lazy<T>(() => load(p)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _byFolder.TryRemove(new KeyValuePair<string, Lazy<T>>(fullPath, lazy));
            throw;
        }
    }
}
