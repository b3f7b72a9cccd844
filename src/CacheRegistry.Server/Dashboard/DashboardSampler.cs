using CacheRegistry.Server.Http;

namespace CacheRegistry.Server.Dashboard;

/// <summary>Samples the counters for the dashboard's charts every 10 seconds while it is enabled.</summary>
internal sealed class DashboardSampler(DashboardActivity activity, Microsoft.Extensions.Options.IOptions<UiOptions> ui, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!ui.Value.Enabled) return;
        activity.Sample();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10), time);
        while (await timer.WaitForNextTickAsync(stoppingToken)) activity.Sample();
    }
}
