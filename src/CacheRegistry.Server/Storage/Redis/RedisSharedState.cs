using CacheRegistry.Cluster;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

/// <summary>
/// What replicas share, in the metadata Redis: values through <see cref="IDistributedCache"/>
/// (Microsoft.Extensions.Caching.StackExchangeRedis, on the store's own connection, so Sentinel and
/// Cluster work as for metadata) and counters with INCRBY. Every call goes through the metadata
/// store's circuit: while Redis is down nothing is asked and every answer is "not known".
/// </summary>
internal sealed partial class RedisSharedState : ISharedState, IDisposable
{
    private readonly RedisMetadataStore _redis;
    private readonly RedisCache _cache;
    private readonly ILogger<RedisSharedState> _log;
    private readonly TimeProvider _time;

    public RedisSharedState(RedisMetadataStore redis, TimeProvider time, ILogger<RedisSharedState> log)
    {
        _time = time;
        _redis = redis;
        _log = log;
        _cache = new RedisCache(new RedisCacheOptions
        {
            ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(redis.Connection),
            InstanceName = redis.KeyPrefix + "shared:",
        });
    }

    public Task<string?> GetAsync(string key, CancellationToken ct) => Quietly("read", key, () => _cache.GetStringAsync(key, ct), ct);

    public async Task SetAsync(string key, string value, DateTimeOffset expires, CancellationToken ct)
    {
        if (expires <= _time.GetUtcNow()) return;
        await Quietly("write", key, async () =>
        {
            await _cache.SetStringAsync(key, value, new DistributedCacheEntryOptions { AbsoluteExpiration = expires }, ct);
            return true;
        }, ct);
    }

    public Task<long?> AddAsync(string key, long delta, DateTimeOffset expires, CancellationToken ct)
    {
        var db = _redis.Connection.GetDatabase();
        RedisKey counter = _redis.KeyPrefix + "shared:" + key;
        return Quietly("count", key, async () =>
        {
            var total = await db.StringIncrementAsync(counter, delta);
            await db.KeyExpireAsync(counter, expires.UtcDateTime);
            return (long?)total;
        }, ct);
    }

    /// <summary>One call under the metadata store's circuit; a failure is "not known" (logged), the caller's cancellation is not.</summary>
    private async Task<T?> Quietly<T>(string what, string key, Func<Task<T>> call, CancellationToken ct)
    {
        try
        {
            return await _redis.Guard(call);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Log.Failed(_log, what, key, e.Message);
            return default;
        }
    }

    public void Dispose() => _cache.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 330, Level = LogLevel.Debug, Message = "shared state: {What} of {Key} failed, this replica goes on alone: {Reason}")]
        public static partial void Failed(ILogger logger, string what, string key, string reason);
    }
}
