using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

// Purges reach every replica over Redis pub/sub; a replica that was disconnected may have missed
// one, so it drops its copies on reconnecting too.
internal sealed partial class RedisMetadataStore : IPurgeNotifier
{
    private RedisChannel PurgeChannel => RedisChannel.Literal(_prefix + "purge");

    public Task PublishAsync(CancellationToken ct) => Guard(() => _redis.GetSubscriber().PublishAsync(PurgeChannel, "purge"));

    public void Subscribe(Action onPurge)
    {
        // Not awaited: the client keeps the subscription and sends it once Redis answers (at start or
        // after a reconnect), so a Redis that is down at start does not stop the cache from starting.
        _ = _redis.GetSubscriber().SubscribeAsync(PurgeChannel, (_, _) => onPurge())
            .ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        _redis.ConnectionRestored += (_, _) => onPurge();
    }
}
