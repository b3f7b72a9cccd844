using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>A tag's digest and when the upstream last confirmed it.</summary>
public sealed record TagRecord(Digest Digest, DateTimeOffset FetchedAt);

/// <summary>A manifest kept by digest: the upstream's exact bytes and media type.</summary>
public sealed record StoredManifest(Digest Digest, string MediaType, byte[] Content)
{
    /// <summary>The digest as text, made once: it goes into every response header.</summary>
    public string DigestText { get; } = Digest.ToString();
    public string ETag { get; } = "\"" + Digest + "\"";
}

/// <summary>
/// Tags, manifests and repository links. Repositories are cache keys such as
/// <c>docker.io/library/nginx</c>.
/// </summary>
public interface IMetadataStore
{
    Task<TagRecord?> GetTagAsync(string repository, string tag, CancellationToken ct);
    Task PutTagAsync(string repository, string tag, TagRecord record, CancellationToken ct);
    Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct);

    Task<StoredManifest?> GetManifestAsync(Digest digest, CancellationToken ct);
    Task PutManifestAsync(StoredManifest manifest, CancellationToken ct);

    /// <summary>Records that <paramref name="repository"/> references these digests upstream.</summary>
    Task LinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct);
    Task<bool> IsLinkedAsync(string repository, Digest digest, CancellationToken ct);
}
