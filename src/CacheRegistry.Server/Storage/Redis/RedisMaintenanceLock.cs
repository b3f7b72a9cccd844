using CacheRegistry.Maintenance;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

/// <summary>A maintenance lock in Redis (StackExchange.Redis's LockTake: SET NX PX with this replica's name), released at the end of the run.</summary>
internal sealed class RedisMaintenanceLock(RedisMetadataStore redis) : IMaintenanceLock
{
    public async Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan ttl, CancellationToken ct)
    {
        var key = (RedisKey)(redis.KeyPrefix + "maintenance:" + name);
        var db = redis.Connection.GetDatabase();
        return await redis.Guard(() => db.LockTakeAsync(key, redis.ReplicaName, ttl)) ? new Held(redis, key, redis.ReplicaName) : null;
    }

    private sealed class Held(RedisMetadataStore redis, RedisKey key, string owner) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await redis.Guard(() => redis.Connection.GetDatabase().LockReleaseAsync(key, owner));
            }
            #pragma warning disable CA1031 // best effort: the lock expires on its own
            catch (Exception)
            {
            }
            #pragma warning restore CA1031
        }
    }
}
