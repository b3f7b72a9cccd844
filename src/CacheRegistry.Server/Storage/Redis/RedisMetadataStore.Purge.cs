using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

// Purges reach every replica over Redis pub/sub; a replica that was disconnected may have missed
// one, so it drops its copies on reconnecting too.
internal sealed partial class RedisMetadataStore : IPurgeNotifier
{
    private RedisChannel PurgeChannel => _prefix + "purge";

    public Task PublishAsync(CancellationToken ct) => Guard(() => _redis.GetSubscriber().PublishAsync(PurgeChannel, "purge"));

    public void Subscribe(Action onPurge)
    {
        _redis.GetSubscriber().Subscribe(PurgeChannel, (_, _) => onPurge());
        _redis.ConnectionRestored += (_, _) => onPurge();
    }
}
