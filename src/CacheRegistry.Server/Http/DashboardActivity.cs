using System.Collections.Concurrent;
using CacheRegistry.Server.Operations;

namespace CacheRegistry.Server.Http;

/// <summary>One manifest request, as the dashboard's "recent pulls" lists it.</summary>
internal sealed record RecentPull(DateTimeOffset Time, string Image, string Result, int Status, string? Error, double Milliseconds);

/// <summary>Cumulative counters at one moment: the dashboard charts the differences between samples.</summary>
internal sealed record ActivitySample(DateTimeOffset Time, long FromCache, long Requests, long BytesFromCache, long BytesFromUpstream);

/// <summary>
/// What the dashboard shows beyond the counters the cache keeps anyway: the last pulls, the
/// busiest repositories, and an hour of samples for the charts. All bounded; recorded only while
/// the dashboard is enabled.
/// </summary>
internal sealed class DashboardActivity(CacheStats stats, TimeProvider time)
{
    private const int RecentCapacity = 50, RepositoryCapacity = 10_000, SampleCapacity = 360;
    private readonly ConcurrentQueue<RecentPull> _recent = new();
    private readonly ConcurrentDictionary<string, RepositoryCounts> _repositories = new(StringComparer.Ordinal);
    private readonly Queue<ActivitySample> _samples = new();
    // ConcurrentDictionary.Count takes every lock: the hot path counts entries itself.
    private int _repositoryCount;

    private sealed class RepositoryCounts
    {
        internal long Requests, Bytes;
    }

    public void Pulled(RecentPull pull)
    {
        _recent.Enqueue(pull);
        while (_recent.Count > RecentCapacity) _recent.TryDequeue(out _);
    }

    public void Requested(string repository, long bytes)
    {
        if (!_repositories.TryGetValue(repository, out var counts))
        {
            if (Volatile.Read(ref _repositoryCount) >= RepositoryCapacity) return; // the busiest are long in by then
            counts = new RepositoryCounts();
            if (_repositories.TryAdd(repository, counts)) Interlocked.Increment(ref _repositoryCount);
            else counts = _repositories[repository];
        }
        Interlocked.Increment(ref counts.Requests);
        Interlocked.Add(ref counts.Bytes, bytes);
    }

    /// <summary>Takes a sample of the cumulative counters (every 10 s, an hour kept).</summary>
    public void Sample()
    {
        var (fromCache, requests, bytesFromCache, bytesFromUpstream) = stats.Totals();
        lock (_samples)
        {
            _samples.Enqueue(new ActivitySample(time.GetUtcNow(), fromCache, requests, bytesFromCache, bytesFromUpstream));
            while (_samples.Count > SampleCapacity) _samples.Dequeue();
        }
    }

    public IReadOnlyList<ActivitySample> Samples()
    {
        lock (_samples) return [.. _samples];
    }

    public IReadOnlyList<RecentPull> RecentPulls() => [.. _recent.Reverse()];

    public IEnumerable<object> TopRepositories(int count) => _repositories
        .Select(kv => (kv.Key, Requests: Interlocked.Read(ref kv.Value.Requests), Bytes: Interlocked.Read(ref kv.Value.Bytes)))
        .OrderByDescending(r => r.Requests).ThenBy(r => r.Key, StringComparer.Ordinal).Take(count)
        .Select(r => new { repository = r.Key, requests = r.Requests, bytes = r.Bytes });
}
