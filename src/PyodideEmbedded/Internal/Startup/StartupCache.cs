using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ClearScript.V8;

namespace PyodideEmbedded.Internal;

/// <summary>
/// What every sandbox start from one asset folder would otherwise redo: the wasm module patched for
/// a memory limit, and the memory image that sandboxes are restored from. Identical module bytes
/// also let V8 reuse the compiled module across isolates. The image is also kept on disk between
/// processes (<see cref="CacheFolder"/>), under a key that covers everything that shapes it.
/// </summary>
internal sealed class StartupCache
{
    // Distinct memory limits in one process are few; past this many, patched copies are not kept.
    private const int MaxCachedLimits = 8;
    private static readonly ConditionalWeakTable<AssetStore, StartupCache> s_byAssets = [];

    private readonly AssetStore _assets;
    private readonly ConcurrentDictionary<long, byte[]> _wasmByLimit = new();
    private readonly Lock _snapshotLock = new();
    private Task<MemoryImage>? _snapshot;
    private CacheFolder? _folder;
    private byte[]? _imageKey;
    private byte[]? _codeCache;
    private int _codeCacheOffered;
    private string? _writeProblem;
    private int _originReported;
    private bool _diskImageRejected;
    private MemoryImage? _diskImage;

    private StartupCache(AssetStore assets) => _assets = assets;

    /// <summary>Where this process's memory image came from, and why not from disk: for tests and diagnostics.</summary>
    public (bool FromDisk, string? MissReason) ImageOrigin { get; private set; }

    public static StartupCache For(AssetStore assets) => s_byAssets.GetValue(assets, static a => new StartupCache(a));

    /// <summary>
    /// Where the image came from, once (null afterwards, or before the image exists): the folder, whether it
    /// was read from there, why not, and a problem that will make every process boot (an untrusted or
    /// unwritable folder), as opposed to a first run.
    /// </summary>
    public (string? Folder, bool FromDisk, string? MissReason, string? Problem)? TakeOriginReport()
    {
        if (_snapshot is not { IsCompletedSuccessfully: true } || Interlocked.Exchange(ref _originReported, 1) != 0)
        {
            return null;
        }

        var (fromDisk, missReason) = ImageOrigin;
        var untrusted = _folder is null ? null : FolderTrust.ProblemWithFolder(_folder.Path);
        return (_folder?.Path, fromDisk, missReason, fromDisk ? null : _writeProblem ?? untrusted);
    }

    /// <summary>V8's code cache for Pyodide's JavaScript, from the cache folder or made by this process's first sandbox.</summary>
    public byte[]? CodeCache => Volatile.Read(ref _codeCache);

    /// <summary>Whether a sandbox that started without an accepted code cache should make one (once per process).</summary>
    public bool WantsCodeCache => Volatile.Read(ref _codeCacheOffered) == 0;

    /// <summary>
    /// Keeps a code cache made by a sandbox for the process's later sandboxes, and writes it to the cache
    /// folder (~1 MB, once per machine: written at once rather than in the background, which a short-lived
    /// process could end half-way). Only the first offer of a process counts: it replaces one V8 refused.
    /// </summary>
    public void OfferCodeCache(byte[]? codeCache)
    {
        if (codeCache is null || Interlocked.Exchange(ref _codeCacheOffered, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _codeCache, codeCache);
        if (_folder is { } folder && _imageKey is { } key)
        {
            folder.TryWrite(CodeCacheEntryName, key, stream => stream.Write(codeCache));
        }
    }

    /// <summary>
    /// The path of the memory image in <paramref name="folderPath"/>, which must be the folder this process
    /// started its sandboxes with; throws when it is not there or cannot be used.
    /// </summary>
    /// <exception cref="InvalidOperationException">The process started its sandboxes with another folder.</exception>
    /// <exception cref="IOException">The folder does not hold a usable image, and why (untrusted, not writable).</exception>
    public string CheckOnDisk(string folderPath)
    {
        var requested = new CacheFolder(folderPath);
        if (_folder is not { } folder || _imageKey is not { } key || folder.Path != requested.Path)
        {
            throw new InvalidOperationException(
                $"This process keeps its start-up state in {(_folder?.Path ?? "no folder")}, not {requested.Path}: prepare a cache folder before any sandbox starts.");
        }

        using var entry = folder.TryRead(ImageEntryName, key, out var reason);
        return entry is not null ? folder.EntryPath(ImageEntryName, key)
            : throw new IOException($"The start-up cache in {folder.Path} cannot be used: {_writeProblem ?? reason}.");
    }

    /// <summary>pyodide.asm.wasm with its memory maximum lowered to <paramref name="memoryLimitBytes"/>.</summary>
    /// <exception cref="SandboxStartException">The module cannot take the limit.</exception>
    public byte[] WasmWithMemoryLimit(long memoryLimitBytes)
    {
        if (_wasmByLimit.TryGetValue(memoryLimitBytes, out var cached))
        {
            return cached;
        }

        byte[] patched;
        try
        {
            patched = WasmMemoryLimit.Apply(_assets.TryGet("pyodide.asm.wasm"), memoryLimitBytes);
        }
        catch (InvalidDataException e)
        {
            throw new SandboxStartException($"Cannot apply the memory limit to pyodide.asm.wasm: {e.Message}", e);
        }

        return _wasmByLimit.Count < MaxCachedLimits ? _wasmByLimit.GetOrAdd(memoryLimitBytes, patched) : patched;
    }

    /// <summary>
    /// The memory image of a freshly booted Pyodide, made once per asset folder: read from
    /// <paramref name="cacheFolder"/> when it holds one for these assets and this library, else made by
    /// a template engine that never runs user code (and then written there). The first caller's folder
    /// is the one used. A failed attempt is forgotten, so the next caller tries again.
    /// </summary>
    public Task<MemoryImage> SnapshotAsync(string? cacheFolder, CancellationToken cancellationToken)
    {
        Task<MemoryImage> snapshot;
        lock (_snapshotLock)
        {
            if (_snapshot is null || _snapshot.IsFaulted || _snapshot.IsCanceled)
            {
                // Not tied to any caller's token: other sandboxes may be waiting for the same image.
                var folder = cacheFolder is null ? null : new CacheFolder(cacheFolder);
                _snapshot = Task.Run(() => LoadOrMakeImageAsync(folder));
            }

            snapshot = _snapshot;
        }

        return snapshot.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Called when a sandbox failed to restore <paramref name="image"/>: if it came from disk, it is forgotten (the
    /// next <see cref="SnapshotAsync"/> boots a new image, which replaces the file) and this returns true.
    /// </summary>
    public bool RejectDiskImage(MemoryImage image)
    {
        lock (_snapshotLock)
        {
            if (_diskImage is null || !ReferenceEquals(_diskImage, image))
            {
                return false;
            }

            _diskImage = null;
            _diskImageRejected = true;
            _snapshot = null;
            return true;
        }
    }

    private async Task<MemoryImage> LoadOrMakeImageAsync(CacheFolder? folder)
    {
        var key = ImageKey(_assets);
        (_folder, _imageKey) = (folder, key);
        // Made for the same key: the V8 version, and the assets (the module's text) are part of it.
        using (var codeCache = folder?.TryRead(CodeCacheEntryName, key, out _))
        {
            Volatile.Write(ref _codeCache, codeCache?.Payload.ToArray());
        }

        string? missReason = _diskImageRejected ? "the image read from it did not restore" : "no cache folder";
        using (var stored = _diskImageRejected ? null : folder?.TryRead(ImageEntryName, key, out missReason))
        {
            try
            {
                if (stored is not null)
                {
                    var image = new MemoryImage(PackedImage.Read(stored.Payload));
                    ImageOrigin = (true, null);
                    _diskImage = image;
                    return image;
                }
            }
            catch (InvalidDataException e)
            {
                missReason = e.Message; // a file with the right checksum but a bad layout: only a planted one
            }
        }

        // Only a boot leaves garbage worth a full collection (see CollectStartupGarbage): an image
        // from disk was read into native memory, freed above.
        try
        {
            var packed = PackedImage.FromSnapshot(await PyodideEngine.MakeSnapshotAsync(_assets, this).ConfigureAwait(false));
            _writeProblem = folder?.TryWrite(ImageEntryName, key, packed.WriteTo);
            ImageOrigin = (false, missReason);
            return new MemoryImage(packed);
        }
        finally
        {
            // While the image is made, only the template asks for a patched module (sandboxes wait
            // for the image first), and its generous limit is no sandbox's: keeping that copy held
            // 9.6 MB for the life of the process.
            _wasmByLimit.Clear();
            MallocTuning.CollectStartupGarbage();
        }
    }

    private const string ImageEntryName = "memory-image";
    private const string CodeCacheEntryName = "code-cache";

    /// <summary>
    /// Identifies a memory image: the assets (their manifest names every file's SHA-256), the code that
    /// runs before the image is taken (bootstrap, runner, preload, protocol), this library's build (its
    /// module version id changes with any change to its code), the V8 engine's version and the
    /// template's options.
    /// </summary>
    internal static byte[] ImageKey(AssetStore assets)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text) => hash.AppendData(Encoding.UTF8.GetBytes(text + "\n"));
        Add("pyodide-embedded memory image");
        hash.AppendData(assets.ManifestSha256);
        foreach (var source in PyodideEngine.ImageSources)
        {
            hash.AppendData(SHA256.HashData(Encoding.UTF8.GetBytes(source)));
        }

        Add(typeof(StartupCache).Assembly.ManifestModule.ModuleVersionId.ToString());
        var engine = typeof(V8ScriptEngine).Assembly;
        Add(engine.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? engine.GetName().Version?.ToString() ?? "");
        Add(PyodideEngine.TemplateMemoryLimitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return hash.GetHashAndReset();
    }
}
