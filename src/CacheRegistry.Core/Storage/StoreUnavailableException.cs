namespace CacheRegistry.Storage;

/// <summary>
/// A store (Redis, S3, SQLite, a disk) could not be reached or did not answer in time. The cache
/// degrades around it where it can (serve blobs by digest, tags straight from upstream, stream
/// without storing); where it cannot, the request gets 503 naming the store.
/// </summary>
public sealed class StoreUnavailableException(string store, string reason, Exception? inner = null)
    : Exception($"{store} is unavailable: {reason}", inner)
{
    public string Store { get; } = store;
    public string Reason { get; } = reason;
}
