using System.Collections.Concurrent;
using System.Globalization;
using Orleans.Storage;

namespace PyodideEmbedded.Orleans.Tests;

/// <summary>Grain storage shared by every silo of the test process and outliving each: what a database is to a real
/// cluster. ETags are checked as a real provider checks them.</summary>
internal sealed class SharedGrainStorage : IGrainStorage
{
    private static readonly ConcurrentDictionary<(string State, GrainId Grain), (string ETag, object? Value)> s_records = new();
    private static long s_version;

    public static bool Holds(string stateName, GrainId grain) => s_records.ContainsKey((stateName, grain));

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (s_records.TryGetValue((stateName, grainId), out var record))
        {
            grainState.State = (T)record.Value!;
            grainState.ETag = record.ETag;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = (stateName, grainId);
        var etag = Interlocked.Increment(ref s_version).ToString(CultureInfo.InvariantCulture);
        lock (s_records)
        {
            s_records.TryGetValue(key, out var current);
            if (current.ETag != grainState.ETag)
            {
                throw new InconsistentStateException("stale ETag", current.ETag, grainState.ETag);
            }

            // The grain replaces its state object on every write, so keeping the reference is keeping a copy.
            s_records[key] = (etag, grainState.State);
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (s_records)
        {
            s_records.TryRemove((stateName, grainId), out _);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}
