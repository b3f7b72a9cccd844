namespace CacheRegistry.Storage;

public static class BlobStoreExtensions
{
    /// <summary>The stored size; null when the blob is not stored or the blob store is down (callers then stream without storing).</summary>
    public static async Task<long?> TryGetSizeAsync(this IBlobStore store, Oci.Digest digest, CancellationToken ct)
    {
        try
        {
            return await store.GetSizeAsync(digest, ct);
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }
}
