using CacheRegistry.Cache;

namespace CacheRegistry.Server.Hosting;

/// <summary>On stop, lets running fills finish within <c>Registry:Timeouts:Shutdown</c>, then cancels what is left.</summary>
internal sealed partial class FillDrain(RegistryOptions options, RunningFills fills, ILogger<FillDrain> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (fills.Count > 0) Log.Draining(log, fills.Count, options.Timeouts.Shutdown);
        return fills.DrainAsync(options.Timeouts.Shutdown);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "shutdown: waiting up to {Grace} for {Count} running fills")]
        public static partial void Draining(ILogger logger, int count, TimeSpan grace);
    }
}
