using System.Collections.Concurrent;

namespace CacheRegistry.Cache;

/// <summary>
/// When each tag was last pulled, kept in memory on the hot path and written to the pull history
/// in batches, like blob access times.
/// </summary>
public sealed class PullTracker(TimeProvider time)
{
    private ConcurrentDictionary<(string Repository, string Tag), DateTimeOffset> _pending = new();

    public void Pulled(string repository, string tag) => _pending[(repository, tag)] = time.GetUtcNow();

    /// <summary>Everything pulled since the last drain.</summary>
    public IReadOnlyCollection<KeyValuePair<(string Repository, string Tag), DateTimeOffset>> Drain() =>
        Interlocked.Exchange(ref _pending, new ConcurrentDictionary<(string Repository, string Tag), DateTimeOffset>()).ToArray();
}
