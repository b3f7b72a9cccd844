using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

/// <summary>
/// A lease per digest in Redis (SET NX PX with this replica's id), renewed at a third of its
/// lifetime while the fill runs and released at its end. If the holder dies the key expires and
/// a waiting replica takes over.
/// </summary>
public sealed class RedisFillLease(RedisMetadataStore redis, RegistryOptions options, ILogger<RedisFillLease> log) : IFillLease
{
    private readonly string _owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public async Task<IAsyncDisposable?> TryAcquireAsync(Digest digest, CancellationToken ct)
    {
        var key = (RedisKey)(redis.KeyPrefix + "fill:" + digest);
        var ttl = options.Fill.LeaseTtl;
        try
        {
            if (!await redis.Connection.GetDatabase().LockTakeAsync(key, _owner, ttl)) return null;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException(redis.Name, e.Message, e);
        }
        return new Held(redis.Connection.GetDatabase(), key, _owner, ttl, log);
    }

    private sealed class Held : IAsyncDisposable
    {
        private readonly IDatabase _db;
        private readonly RedisKey _key;
        private readonly string _owner;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;

        public Held(IDatabase db, RedisKey key, string owner, TimeSpan ttl, ILogger log)
        {
            (_db, _key, _owner) = (db, key, owner);
            _renewal = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(ttl / 3);
                while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                {
                    try
                    {
                        if (!await _db.LockExtendAsync(_key, _owner, ttl)) log.LogWarning("fill lease {Key} was lost; another replica may download it too", (string?)_key);
                    }
                    catch (Exception e) when (e is RedisException or TimeoutException)
                    {
                        log.LogWarning("fill lease {Key} could not be renewed: {Reason}", (string?)_key, e.Message);
                    }
                }
            });
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _renewal;
            }
            catch (OperationCanceledException)
            {
            }
            try
            {
                await _db.LockReleaseAsync(_key, _owner);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // It expires on its own.
            }
            _stop.Dispose();
        }
    }
}
