using CacheRegistry.Cluster;

namespace CacheRegistry.Upstream;

/// <summary>
/// Registry:Upstreams:&lt;host&gt;:Quota: the body bytes an upstream may send per UTC day or month.
/// Once spent, nothing more is asked of it until the period turns: the cache serves what it
/// holds and answers misses with 429. A download running when the quota runs out finishes.
/// With replicas (<see cref="ISharedState"/>) the bytes are counted cluster-wide: each replica adds
/// what it received to one shared counter every <see cref="SyncInterval"/> and reads the total
/// back, so the cluster spends the quota once, overshooting by at most what it downloads in one
/// interval.
/// </summary>
public sealed class UpstreamQuota : IDisposable
{
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ISharedState _shared;
    private readonly string _key;
    private readonly ITimer? _sync;
    private long _used;     // this period: the cluster's total as last read, plus what this replica added since
    private long _unshared; // added here and not yet added to the shared counter
    private int _syncing;
    private DateTimeOffset _periodEnd = DateTimeOffset.MinValue;

    public UpstreamQuota(long limit, string period, TimeProvider time, string upstream = "", ISharedState? shared = null)
    {
        Limit = limit;
        Period = period;
        _time = time;
        _shared = shared ?? NothingShared.Instance;
        _key = "quota:" + upstream;
        if (shared is not null) _sync = time.CreateTimer(_ => _ = SyncAsync(), null, SyncInterval, SyncInterval);
    }

    public long Limit { get; }
    public string Period { get; }

    public void Add(long bytes)
    {
        lock (_lock)
        {
            Turn();
            _used += bytes;
            _unshared += bytes;
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

    /// <summary>Adds this replica's unshared bytes to the cluster's counter and takes its total (also when there was nothing to add).</summary>
    public async Task SyncAsync()
    {
        if (Interlocked.Exchange(ref _syncing, 1) == 1) return;
        try
        {
            long delta;
            DateTimeOffset periodEnd;
            lock (_lock)
            {
                Turn();
                (delta, periodEnd) = (_unshared, _periodEnd);
                _unshared = 0;
            }
            // One counter per period, living a day past its end (replicas' clocks differ a little).
            var total = await _shared.AddAsync($"{_key}:{periodEnd.UtcTicks}", delta, periodEnd.AddDays(1), CancellationToken.None);
            lock (_lock)
            {
                if (_periodEnd != periodEnd) return; // the period turned meanwhile: those bytes belonged to the last one
                if (total is null) _unshared += delta; // the store did not answer: add them next time
                else _used = Math.Max(_used, total.Value + _unshared);
            }
        }
        finally
        {
            Volatile.Write(ref _syncing, 0);
        }
    }

    private void Turn()
    {
        var now = _time.GetUtcNow();
        if (now < _periodEnd) return;
        _used = 0;
        _unshared = 0;
        var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        _periodEnd = Period == "month" ? today.AddDays(1 - today.Day).AddMonths(1) : today.AddDays(1);
    }

    public void Dispose() => _sync?.Dispose();
}
