using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>Listing and deleting stored blobs: what GC and eviction need of a blob store.</summary>
public interface IBlobInventory
{
    /// <summary>Every stored blob with its size and when it was written.</summary>
    IAsyncEnumerable<(Digest Digest, long Size, DateTimeOffset Written)> ListAsync(CancellationToken ct);

    /// <summary>Removes the blob; readers already streaming it finish (files stay readable until closed).</summary>
    Task DeleteAsync(Digest digest, CancellationToken ct);

    /// <summary>A directory on the local file system that holds the blobs (for free-space checks), or null for remote stores.</summary>
    string? Volume { get; }
}
