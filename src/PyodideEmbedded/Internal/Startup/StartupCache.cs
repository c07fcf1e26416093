using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace PyodideEmbedded.Internal;

/// <summary>
/// What every sandbox start from one asset folder would otherwise redo: the wasm module patched for
/// a memory limit, and the memory image that sandboxes are restored from. Identical module bytes
/// also let V8 reuse the compiled module across isolates.
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

    private StartupCache(AssetStore assets) => _assets = assets;

    public static StartupCache For(AssetStore assets) => s_byAssets.GetValue(assets, static a => new StartupCache(a));

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
    /// The memory image of a freshly booted Pyodide, made once per asset folder by a template engine
    /// that never runs user code. A failed attempt is forgotten, so the next caller tries again.
    /// </summary>
    public Task<MemoryImage> SnapshotAsync(CancellationToken cancellationToken)
    {
        Task<MemoryImage> snapshot;
        lock (_snapshotLock)
        {
            if (_snapshot is null || _snapshot.IsFaulted || _snapshot.IsCanceled)
            {
                // Not tied to any caller's token: other sandboxes may be waiting for the same image.
                _snapshot = Task.Run(MakeSnapshotAsync);
            }

            snapshot = _snapshot;
        }

        return snapshot.WaitAsync(cancellationToken);
    }

    private async Task<MemoryImage> MakeSnapshotAsync()
    {
        try
        {
            return await PyodideEngine.MakeSnapshotAsync(_assets, this).ConfigureAwait(false);
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
}
