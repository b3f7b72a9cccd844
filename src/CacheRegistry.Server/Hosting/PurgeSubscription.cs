using CacheRegistry.Cache;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>Drops this replica's in-memory tags and manifests when another replica purges.</summary>
internal sealed partial class PurgeSubscription(IEnumerable<IPurgeNotifier> notifiers, HotCache hot, ILogger<PurgeSubscription> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var notifier in notifiers)
            notifier.Subscribe(() =>
            {
                hot.Clear();
                Log.Dropped(log);
            });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "purge (here or on another replica), or a reconnect to shared metadata: in-memory tags and manifests dropped")]
        public static partial void Dropped(ILogger logger);
    }
}
