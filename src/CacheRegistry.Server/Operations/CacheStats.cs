using System.Collections.Concurrent;
using CacheRegistry.Cache;

namespace CacheRegistry.Server.Operations;

/// <summary>Per-upstream request and byte counters of this process, for /admin/stats.</summary>
internal sealed class CacheStats(TimeProvider time)
{
    internal sealed class Counters
    {
        internal long Hits, Misses, Stale, Joined, PassThrough, BytesFromCache, BytesFromUpstream;
    }

    private readonly ConcurrentDictionary<string, Counters> _byUpstream = new(StringComparer.Ordinal);
    public DateTimeOffset Since { get; } = time.GetUtcNow();

    public void Record(string? upstream, CacheOutcome? outcome, long bytes)
    {
        if (upstream is null || outcome is null) return;
        var c = _byUpstream.GetOrAdd(upstream, _ => new Counters());
        var fromCache = outcome.Value.IsFromCache();
        switch (outcome)
        {
            case CacheOutcome.Hit or CacheOutcome.Revalidated: Interlocked.Increment(ref c.Hits); break;
            case CacheOutcome.Stale: Interlocked.Increment(ref c.Stale); break;
            case CacheOutcome.Joined: Interlocked.Increment(ref c.Joined); break;
            case CacheOutcome.PassThrough: Interlocked.Increment(ref c.PassThrough); break;
            default: Interlocked.Increment(ref c.Misses); break;
        }
        if (fromCache) Interlocked.Add(ref c.BytesFromCache, bytes);
        else Interlocked.Add(ref c.BytesFromUpstream, bytes);
    }

    /// <summary>All upstreams together: requests answered from the cache, all requests, and body bytes by source.</summary>
    public (long FromCache, long Requests, long BytesFromCache, long BytesFromUpstream) Totals()
    {
        long fromCache = 0, requests = 0, bytesFromCache = 0, bytesFromUpstream = 0;
        foreach (var c in _byUpstream.Values)
        {
            fromCache += Interlocked.Read(ref c.Hits) + Interlocked.Read(ref c.Stale);
            requests += Interlocked.Read(ref c.Hits) + Interlocked.Read(ref c.Stale) + Interlocked.Read(ref c.Misses) + Interlocked.Read(ref c.Joined)
                + Interlocked.Read(ref c.PassThrough);
            bytesFromCache += Interlocked.Read(ref c.BytesFromCache);
            bytesFromUpstream += Interlocked.Read(ref c.BytesFromUpstream);
        }
        return (fromCache, requests, bytesFromCache, bytesFromUpstream);
    }

    public object Snapshot(long storedBlobs, long storedBytes) => new
    {
        since = Since,
        storage = new { blobs = storedBlobs, bytes = storedBytes },
        upstreams = _byUpstream.OrderBy(kv => kv.Key).Select(kv =>
        {
            var c = kv.Value;
            var served = c.Hits + c.Stale + c.Misses + c.Joined + c.PassThrough;
            return new
            {
                upstream = kv.Key,
                requests = served,
                hits = c.Hits, stale = c.Stale, misses = c.Misses, joined = c.Joined, passThrough = c.PassThrough,
                hitRatio = served == 0 ? 0 : Math.Round((double)(c.Hits + c.Stale) / served, 4),
                bytesFromCache = c.BytesFromCache,
                bytesFromUpstream = c.BytesFromUpstream,
            };
        }),
    };
}
