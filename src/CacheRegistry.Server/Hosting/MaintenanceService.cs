using CacheRegistry.Maintenance;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Runs the size limit every maintenance interval, and at once when the local disk fails (a full
/// disk: eviction makes room), and garbage collection every GC interval.
/// </summary>
internal sealed partial class MaintenanceService(Evictor evictor, GarbageCollector gc, SpoolDirectory spools, RegistryOptions options, TimeProvider time,
    ILogger<MaintenanceService> log) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        spools.Failed += Wake;
        try
        {
            var nextGc = time.GetUtcNow() + options.Cache.GcInterval;
            while (!stoppingToken.IsCancellationRequested)
            {
                // While the local disk is down (full), eviction is retried as often as the disk is probed.
                await _wake.WaitAsync(spools.IsDown ? options.Timeouts.StoreProbe : options.Cache.MaintenanceInterval, stoppingToken);
                try
                {
                    await evictor.RunAsync(stoppingToken);
                    if (options.Cache.GcInterval > TimeSpan.Zero && time.GetUtcNow() >= nextGc)
                    {
                        nextGc = time.GetUtcNow() + options.Cache.GcInterval;
                        await gc.RunAsync(null, stoppingToken);
                    }
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    Log.Failed(log, e.Message);
                }
            }
        }
        finally
        {
            spools.Failed -= Wake;
        }
    }

    private void Wake(object? sender, string reason)
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A run is already due.
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 620, Level = LogLevel.Warning, Message = "maintenance failed, will retry: {Reason}")]
        public static partial void Failed(ILogger logger, string reason);
    }
}
