using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

/// <summary>
/// Whether a repository may be served a blob: one of its manifests references it, or its upstream
/// confirmed it (the link is then recorded). Blobs are stored by digest, so without this check
/// knowing a digest would open any repository's blob through any other.
/// </summary>
internal static class BlobLinks
{
    /// <returns>The upstream endpoint asked, when one was.</returns>
    public static async Task<string?> EnsureAsync(IMetadataStore metadata, RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        try
        {
            if (await metadata.IsLinkedAsync(repo.Key, digest, ct)) return null;
        }
        catch (StoreUnavailableException)
        {
            return null; // metadata down: blobs are content-addressed, so serve by digest
        }
        using var head = await HeadUpstreamAsync(repo, digest, ct);
        try
        {
            await metadata.LinkAsync(repo.Key, [digest], ct);
        }
        catch (StoreUnavailableException)
        {
        }
        return head.Endpoint.Authority;
    }

    public static async Task<UpstreamResponse> HeadUpstreamAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        try
        {
            return await repo.Upstream.HeadBlobAsync(repo.Name, digest, ct);
        }
        catch (UpstreamException e)
        {
            throw e.ToRegistryError("BLOB_UNKNOWN");
        }
    }
}
