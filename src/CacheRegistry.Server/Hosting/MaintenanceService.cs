using CacheRegistry.Maintenance;

namespace CacheRegistry.Server.Hosting;

/// <summary>Runs the size limit every maintenance interval and garbage collection every GC interval.</summary>
public sealed class MaintenanceService(Evictor evictor, GarbageCollector gc, RegistryOptions options, TimeProvider time, ILogger<MaintenanceService> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextGc = time.GetUtcNow() + options.Cache.GcInterval;
        using var timer = new PeriodicTimer(options.Cache.MaintenanceInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
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
                log.LogWarning("maintenance failed, will retry: {Reason}", e.Message);
            }
        }
    }
}
