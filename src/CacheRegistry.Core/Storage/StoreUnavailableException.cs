namespace CacheRegistry.Storage;

/// <summary>
/// A store (Redis, S3…) could not be reached. The cache degrades around it where it can (serve
/// blobs by digest, tags straight from upstream, stream without storing); where it cannot, the
/// request gets 503 naming the store.
/// </summary>
public sealed class StoreUnavailableException(string store, string message, Exception? inner = null)
    : Exception($"{store} is unavailable: {message}", inner)
{
    public string Store { get; } = store;
}
