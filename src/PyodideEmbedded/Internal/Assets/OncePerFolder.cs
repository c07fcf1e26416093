using System.Collections.Concurrent;

namespace PyodideEmbedded.Internal;

/// <summary>What is loaded from a folder once per process (assets, packages); a failed load is retried on the next call.</summary>
internal sealed class OncePerFolder<T>(Func<string, T> load)
{
    private readonly OncePerKey<T> _byFolder = new(load);

    public T Get(string folder) => _byFolder.Get(Key(folder));

    /// <summary>The value if it is loaded already, without waiting for a load in progress.</summary>
    public T? TryGetLoaded(string folder) => _byFolder.TryGetLoaded(Key(folder));

    private static string Key(string folder) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
}

/// <summary>A value loaded once per key; a failed load is forgotten, so the next call tries again.</summary>
internal sealed class OncePerKey<T>(Func<string, T> load)
{
    private readonly ConcurrentDictionary<string, Lazy<T>> _byKey = new(StringComparer.Ordinal);

    public T? TryGetLoaded(string key) =>
        _byKey.TryGetValue(key, out var lazy) && lazy.IsValueCreated ? lazy.Value : default;

    public T Get(string key)
    {
        var lazy = _byKey.GetOrAdd(key, k => new Lazy<T>(() => load(k)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _byKey.TryRemove(new KeyValuePair<string, Lazy<T>>(key, lazy));
            throw;
        }
    }
}
