using System.Collections.Concurrent;
using CacheRegistry.Oci;

namespace CacheRegistry.Cache;

/// <summary>
/// Last access per blob, kept in memory on the hot path and written to the blob index in batches,
/// so serving a blob never waits for a metadata write.
/// </summary>
public sealed class AccessTracker(TimeProvider time)
{
    private ConcurrentDictionary<Digest, DateTimeOffset> _pending = new();

    public void Touch(Digest digest) => _pending[digest] = time.GetUtcNow();

    /// <summary>Everything touched since the last drain.</summary>
    public IReadOnlyCollection<KeyValuePair<Digest, DateTimeOffset>> Drain() =>
        Interlocked.Exchange(ref _pending, new ConcurrentDictionary<Digest, DateTimeOffset>()).ToArray();
}
