using CacheRegistry.Maintenance;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Runs the availability check every <c>Registry:Availability:Interval</c> when enabled, and
/// writes the pull times it watches every minute in between.
/// </summary>
internal sealed partial class AvailabilityService(AvailabilityChecker checker, RegistryOptions options, TimeProvider time, ILogger<AvailabilityService> log)
    : BackgroundService
{
    private static readonly TimeSpan FlushEvery = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Availability.Enabled) return;
        var due = time.GetUtcNow() + options.Availability.Interval;
        using var timer = new PeriodicTimer(options.Availability.Interval < FlushEvery ? options.Availability.Interval : FlushEvery, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                if (time.GetUtcNow() < due)
                {
                    await checker.FlushPullsAsync(stoppingToken);
                    continue;
                }
                due = time.GetUtcNow() + options.Availability.Interval;
                await checker.RunAsync(stoppingToken);
            }
            catch (Exception e) when (e is CacheRegistry.Storage.StoreUnavailableException or CacheRegistry.Upstream.UpstreamException)
            {
                Log.Failed(log, e.Message);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 710, Level = LogLevel.Warning, Message = "availability check: {Reason}; trying again next round")]
        public static partial void Failed(ILogger logger, string reason);
    }
}
