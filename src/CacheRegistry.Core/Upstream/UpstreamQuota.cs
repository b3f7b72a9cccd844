namespace CacheRegistry.Upstream;

/// <summary>
/// Registry:Upstreams:&lt;host&gt;:Quota: the body bytes an upstream may send per UTC day or month.
/// Once spent, nothing more is asked of it until the period turns: the cache serves what it
/// holds and answers misses with 429. A download running when the quota runs out finishes.
/// Counted per process.
/// </summary>
public sealed class UpstreamQuota(long limit, string period, TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _used;
    private DateTimeOffset _periodEnd = DateTimeOffset.MinValue;

    public long Limit { get; } = limit;
    public string Period { get; } = period;

    public void Add(long bytes)
    {
        lock (_lock)
        {
            Turn();
            _used += bytes;
        }
    }

    public long Remaining
    {
        get
        {
            lock (_lock)
            {
                Turn();
                return Math.Max(0, Limit - _used);
            }
        }
    }

    public bool IsSpent => Remaining == 0;

    /// <summary>When the current period ends and the quota is whole again.</summary>
    public DateTimeOffset ResetsAt
    {
        get
        {
            lock (_lock)
            {
                Turn();
                return _periodEnd;
            }
        }
    }

    private void Turn()
    {
        var now = time.GetUtcNow();
        if (now < _periodEnd) return;
        _used = 0;
        var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        _periodEnd = Period == "month" ? today.AddDays(1 - today.Day).AddMonths(1) : today.AddDays(1);
    }
}
