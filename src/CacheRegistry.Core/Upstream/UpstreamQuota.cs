using CacheRegistry.Cluster;

namespace CacheRegistry.Upstream;

/// <summary>
/// Registry:Upstreams:&lt;host&gt;:Quota: the body bytes an upstream may send per UTC day or month.
/// Once spent, nothing more is asked of it until the period turns: the cache serves what it
/// holds and answers misses with 429. A blob download reserves its size before it starts and is
/// refused when that does not fit in what is left, so one download cannot overshoot the quota.
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
    private long _reserved; // sizes of downloads running here, less what they received so far
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

    /// <summary>What may still be asked for this period: negative when it was overshot (replicas between two syncs), never hidden.</summary>
    public long Remaining
    {
        get
        {
            lock (_lock)
            {
                Turn();
                return Limit - _used - _reserved;
            }
        }
    }

    public bool IsSpent => Remaining <= 0;

    /// <summary>
    /// Reserves <paramref name="bytes"/> for a download about to start; null (nothing reserved) when
    /// they do not fit in what is left. The download reports what it receives, and gives back the rest
    /// when it ends.
    /// </summary>
    public Reservation? TryReserve(long bytes)
    {
        lock (_lock)
        {
            Turn();
            if (Limit - _used - _reserved < bytes) return null;
            _reserved += bytes;
            return new Reservation(this, bytes);
        }
    }

    private void Unreserve(long bytes)
    {
        lock (_lock) _reserved = Math.Max(0, _reserved - bytes);
    }

    /// <summary>One download's reserved bytes: what it receives is counted by <see cref="Add"/>, so it leaves the reservation.</summary>
    public sealed class Reservation(UpstreamQuota quota, long bytes) : IDisposable
    {
        private long _left = bytes;

        /// <summary>Safe from several connections at once (a pool's): the reservation never goes below zero.</summary>
        public void Received(long n)
        {
            while (true)
            {
                var left = Interlocked.Read(ref _left);
                var taken = Math.Min(n, left);
                if (taken <= 0) return;
                if (Interlocked.CompareExchange(ref _left, left - taken, left) != left) continue;
                quota.Unreserve(taken);
                return;
            }
        }

        public void Dispose() => quota.Unreserve(Interlocked.Exchange(ref _left, 0));
    }

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
