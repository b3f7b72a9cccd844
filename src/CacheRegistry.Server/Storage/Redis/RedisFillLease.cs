using CacheRegistry.Cache;
using CacheRegistry.Oci;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

/// <summary>
/// A lease per digest in Redis (SET NX PX with this replica's name), renewed at a third of its
/// lifetime while the fill runs and released at its end. If the holder dies the key expires and a
/// waiting replica takes over. A holder that paused past the lifetime finds out at commit
/// (<see cref="IHeldLease.IsStillHeldAsync"/>) or at its next renewal, which logs the loss.
/// The value is the replica's name, then its advertised URL when it streams fills to its peers.
/// </summary>
internal sealed partial class RedisFillLease(RedisMetadataStore redis, RegistryOptions options, TimeProvider time, ILogger<RedisFillLease> log) : IFillLease
{
    private readonly string? _url = AdvertisedUrl(options);
    private readonly string _owner = redis.ReplicaName + (AdvertisedUrl(options) is { } url ? " " + url : "");

    private static string? AdvertisedUrl(RegistryOptions options) =>
        options.Cluster.StreamsFromPeers ? options.Cluster.AdvertiseUrl!.TrimEnd('/') : null;

    // Takes the lease when it is free and answers who holds it now, in one round trip (a replica
    // that follows another needs both answers on the way to its first byte). One key: Cluster-safe.
    private const string TakeOrQuery = "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) return redis.call('GET', KEYS[1])";

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The held lease belongs to the fill, which disposes it.")]
    public async Task<FillLeaseResult> TryAcquireAsync(Digest digest, CancellationToken ct)
    {
        var key = (RedisKey)(redis.KeyPrefix + "fill:" + digest);
        var ttl = options.Fill.LeaseTtl;
        var db = redis.Connection.GetDatabase();
        var holder = (string?)await redis.Guard(() => db.ScriptEvaluateAsync(TakeOrQuery, [key], [_owner, (long)ttl.TotalMilliseconds]));
        if (holder == _owner) return new FillLeaseResult(new Held(redis, key, _owner, ttl, time, log), null);
        if (holder is null) return new FillLeaseResult(null, "another replica");
        var space = holder.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0) return new FillLeaseResult(null, holder);
        // A lease left by this replica's previous life (same address, restarted): nothing there to follow; it expires.
        var url = holder[(space + 1)..];
        return new FillLeaseResult(null, holder[..space], url == _url ? null : url);
    }

    private sealed class Held : IHeldLease
    {
        private readonly RedisMetadataStore _redis;
        private readonly RedisKey _key;
        private readonly string _owner;
        private readonly ILogger _log;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;

        public Held(RedisMetadataStore redis, RedisKey key, string owner, TimeSpan ttl, TimeProvider time, ILogger log)
        {
            (_redis, _key, _owner, _log) = (redis, key, owner, log);
            _renewal = Task.Run(() => RenewAsync(ttl, time));
        }

        private IDatabase Db => _redis.Connection.GetDatabase();

        private async Task RenewAsync(TimeSpan ttl, TimeProvider time)
        {
            using var timer = new PeriodicTimer(ttl / 3, time);
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token))
                {
                    try
                    {
                        if (!await _redis.Guard(() => Db.LockExtendAsync(_key, _owner, ttl))) Log.Lost(_log, (string?)_key);
                    }
                    #pragma warning disable CA1031 // a renewal that fails is logged; the fill goes on
                    catch (Exception e)
                    {
                        Log.NotRenewed(_log, (string?)_key, e.Message);
                    }
                    #pragma warning restore CA1031
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async Task<bool> IsStillHeldAsync(CancellationToken ct) =>
            (string?)await _redis.Guard(() => Db.LockQueryAsync(_key)) == _owner;

        /// <summary>Never throws: a committed fill must not be reported as failed because the coordinator went away.</summary>
        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _renewal;
            try
            {
                await _redis.Guard(() => Db.LockReleaseAsync(_key, _owner));
            }
            #pragma warning disable CA1031 // releasing is best effort; the lease expires on its own
            catch (Exception)
            {
                // It expires on its own.
            }
            #pragma warning restore CA1031
            _stop.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 320, Level = LogLevel.Warning, Message = "fill lease {Key} was taken by another replica while this one held it (a pause longer than the lease)")]
        public static partial void Lost(ILogger logger, string? key);

        [LoggerMessage(EventId = 321, Level = LogLevel.Warning, Message = "fill lease {Key} could not be renewed: {Reason}")]
        public static partial void NotRenewed(ILogger logger, string? key, string reason);
    }
}
