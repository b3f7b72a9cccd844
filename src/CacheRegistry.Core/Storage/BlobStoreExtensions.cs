namespace CacheRegistry.Storage;

public static class BlobStoreExtensions
{
    /// <summary>
    /// The stored size; null when the blob is not stored, the blob store is down (callers then
    /// stream without storing), or the stored size is not the <paramref name="declaredSize"/> a
    /// manifest gives (an object still being completed by a store whose multipart completion is
    /// not atomic, or a damaged one: never served).
    /// </summary>
    public static async Task<long?> TryGetSizeAsync(this IBlobStore store, Oci.Digest digest, long? declaredSize, CancellationToken ct)
    {
        try
        {
            var size = await store.GetSizeAsync(digest, ct);
            return declaredSize is long declared && size is long stored && stored != declared ? null : size;
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }
}

public static class BlobIndexExtensions
{
    /// <summary>
    /// True when the index records the digest, or cannot answer (then the blob store decides). A
    /// commit records its blob before it lets the lease go, so "false" means no commit finished.
    /// </summary>
    public static async Task<bool> MayRecordAsync(this IBlobIndex index, Oci.Digest digest, CancellationToken ct)
    {
        try
        {
            return await index.RecordedSizeAsync(digest, ct) is not null;
        }
        catch (StoreUnavailableException)
        {
            return true;
        }
    }
}
