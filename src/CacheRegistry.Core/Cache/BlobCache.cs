using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

/// <summary>A blob ready to be streamed: its size (null if unknown) and how to read it from an offset.</summary>
public sealed record BlobSource(long? Size, CacheOutcome Outcome, string? Endpoint, Func<long, CancellationToken, Task<Stream>> OpenAsync)
{
    /// <summary>Where to send the client instead of streaming (presigned storage URL), when the store offers one.</summary>
    public string? RedirectUrl { get; init; }
}

/// <summary>
/// Serves blobs: from the store when committed, otherwise by joining or starting a fill. A blob is
/// served for a repository only when that repository is linked to it (a manifest of it references
/// it, or the upstream confirmed it).
/// </summary>
public sealed class BlobCache(IBlobStore store, IMetadataStore metadata, RunningFills fills, AccessTracker accesses)
{
    public async Task<BlobSource> OpenAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        if (await store.TryGetSizeAsync(digest, ct) is long size)
        {
            var endpoint = await EnsureLinkedAsync(repo, digest, ct);
            accesses.Touch(digest);
            return new BlobSource(size, CacheOutcome.Hit, endpoint, (offset, c) => OpenStoredAsync(digest, offset, c))
            {
                RedirectUrl = (store as IBlobRedirector)?.RedirectUrl(digest),
            };
        }
        var (fill, started) = fills.GetOrStart(repo, digest);
        if (!started && fill.Repository.Key != repo.Key) await EnsureLinkedAsync(repo, digest, ct);
        var total = await fill.Started.WaitAsync(ct);
        return new BlobSource(total, started ? CacheOutcome.Miss : CacheOutcome.Joined, fill.Endpoint, fill.OpenReaderAsync);
    }

    /// <summary>Size for HEAD: from the store, a running fill, or an upstream HEAD (nothing is downloaded).</summary>
    public async Task<(long? Size, CacheOutcome Outcome)> StatAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        if (await store.TryGetSizeAsync(digest, ct) is long size)
        {
            await EnsureLinkedAsync(repo, digest, ct);
            return (size, CacheOutcome.Hit);
        }
        if (fills.Find(digest) is { } fill && fill.Repository.Key == repo.Key)
            return (await fill.Started.WaitAsync(ct), CacheOutcome.Joined);
        using var head = await HeadUpstreamAsync(repo, digest, ct);
        return (head.ContentLength, CacheOutcome.PassThrough);
    }

    private async Task<Stream> OpenStoredAsync(Digest digest, long offset, CancellationToken ct) =>
        await store.OpenReadAsync(digest, offset, null, ct) ?? throw RegistryError.BlobUnknown($"blob {digest} left the cache while being opened");

    /// <returns>The upstream endpoint asked, when one was.</returns>
    private async Task<string?> EnsureLinkedAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
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

    private static async Task<UpstreamResponse> HeadUpstreamAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
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
