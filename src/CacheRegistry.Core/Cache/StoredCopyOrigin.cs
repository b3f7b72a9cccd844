using CacheRegistry.Oci;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>
/// The blob store as a fill's origin: whether it holds the blob (first the answer the starting
/// request asked for, which may still be on its way, then fresh lookups), its bytes from an offset,
/// and the record of a blob it held although the index had lost it.
/// </summary>
internal sealed partial class StoredCopyOrigin(IBlobStore store, IBlobIndex index, Digest digest, long? declaredSize, Task<long?>? pendingLookup,
    TimeProvider time, ILogger log) : IFillOrigin
{
    private Task<long?>? _pending = pendingLookup;

    public bool Resumable => false;

    /// <summary>The starting request's lookup has not been used yet.</summary>
    public bool HasPendingLookup => _pending is not null;

    /// <summary>The starting request's lookup, once (the lease holder races it against the upstream); null after that.</summary>
    public Task<long?>? TakePendingLookup()
    {
        var pending = _pending;
        _pending = null;
        return pending;
    }

    /// <summary>The stored size, or null when the store does not hold the blob.</summary>
    public Task<long?> SizeAsync(CancellationToken ct) => store.TryGetSizeAsync(digest, declaredSize, ct);

    public async Task<OriginBody?> OpenAsync(long offset, CancellationToken ct) =>
        await store.OpenReadAsync(digest, offset, null, ct) is { } body ? new OriginBody(body, offset, null, "the blob store", null) : null;

    /// <summary>
    /// What <paramref name="open"/> answers, or null when <paramref name="lookup"/> answers first
    /// that the store holds the blob (the index, asked instead of the store, had lost its record).
    /// An origin that fails or hangs does not keep a stored blob from its readers: the store's answer decides.
    /// </summary>
    public static async Task<OriginBody?> UnlessStoredAsync(Task<long?> lookup, Func<CancellationToken, Task<OriginBody?>> open, CancellationToken ct)
    {
        if (lookup.IsCompleted) return await HoldsAsync(lookup) ? null : await open(ct);
        using var race = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var opening = open(race.Token);
        if (await Task.WhenAny(opening, lookup) == lookup && await HoldsAsync(lookup))
        {
            await race.CancelAsync();
            opening.DisposeWhenDone();
            return null;
        }
        OriginBody? body;
        try
        {
            body = await opening;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            if (await HoldsAsync(lookup)) return null;
            throw;
        }
        if (lookup.IsCompleted && await HoldsAsync(lookup))
        {
            body?.Dispose();
            return null;
        }
        return body;
    }

    /// <summary>The store held a blob the index had no record of: recorded now, so the next request finds it.</summary>
    public async Task RecordFoundAsync(long size)
    {
        Log.FoundUnrecorded(log, digest.ToString());
        try
        {
            await index.RecordBlobAsync(digest, size, time.GetUtcNow(), CancellationToken.None);
        }
        catch (StoreUnavailableException)
        {
            // The next request asks the store again.
        }
    }

    internal static async Task<bool> HoldsAsync(Task<long?> lookup)
    {
        try
        {
            return await lookup is not null;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 322, Level = LogLevel.Warning, Message = "fill {Digest}: the blob store holds it but the index had no record of it (index lost or flushed?); served from the store and recorded, not downloaded again")]
        public static partial void FoundUnrecorded(ILogger logger, string digest);
    }
}
