using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>A stored blob's size and when it was last served.</summary>
public sealed record BlobRecord(Digest Digest, long Size, DateTimeOffset LastAccess);

/// <summary>
/// Which blobs are stored, how big and how recently used: what the size limit evicts by, and
/// what operations report. Kept next to the metadata, so every replica sees one index.
/// </summary>
public interface IBlobIndex
{
    Task RecordBlobAsync(Digest digest, long size, DateTimeOffset at, CancellationToken ct);
    /// <summary>The size recorded for the digest; null when it is not recorded.</summary>
    Task<long?> RecordedSizeAsync(Digest digest, CancellationToken ct);
    /// <summary>Last-access times, written in batches (the access tracker flushes periodically).</summary>
    Task TouchBlobsAsync(IReadOnlyCollection<KeyValuePair<Digest, DateTimeOffset>> accesses, CancellationToken ct);
    /// <summary>Least recently used first.</summary>
    Task<IReadOnlyList<BlobRecord>> OldestBlobsAsync(int limit, int skip, CancellationToken ct);
    Task<(long Count, long Bytes)> TotalsAsync(CancellationToken ct);
    Task ForgetBlobAsync(Digest digest, CancellationToken ct);
    /// <summary>Repositories whose manifests reference the digest (for pins and purges).</summary>
    Task<IReadOnlyList<string>> RepositoriesLinkingAsync(Digest digest, CancellationToken ct);
}

/// <summary>Every manifest kept and every repository's tags, for GC, purge and the admin API.</summary>
public interface IMetadataCatalog
{
    IAsyncEnumerable<StoredManifest> AllManifestsAsync(CancellationToken ct);
    Task<IReadOnlyList<string>> ListRepositoriesAsync(CancellationToken ct);
    Task DeleteTagAsync(string repository, string tag, CancellationToken ct);
    Task UnlinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct);
    Task DeleteManifestAsync(Digest digest, CancellationToken ct);
}

/// <summary>
/// The source-and-hash inventory auditors ask for: a manifest seen for the first time, or a
/// signature policy's decision on one (<see cref="Check"/>). <see cref="Subject"/> is set for what
/// describes another manifest: an OCI 1.1 referrer, or a cosign <c>sha256-&lt;hex&gt;.sig/.att/.sbom</c> tag.
/// </summary>
public sealed record LedgerEntry(DateTimeOffset Time, string Upstream, string Repository, string? Tag, Digest Digest,
    string MediaType, long Size, string Endpoint, Digest? Subject = null, string? ArtifactType = null, SignatureCheck? Check = null);

/// <summary>A signature policy's decision: the policy, the result (verified, unsigned, invalid, error) and the key that signed.</summary>
public sealed record SignatureCheck(string Policy, string Result, string? Key);

public interface ILedger
{
    Task AppendAsync(LedgerEntry entry, CancellationToken ct);
    /// <summary>Oldest first, at most <paramref name="limit"/> entries from <paramref name="since"/>.</summary>
    Task<IReadOnlyList<LedgerEntry>> ReadAsync(DateTimeOffset? since, int limit, CancellationToken ct);
}
