using CacheRegistry.Cache;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Hosting;

/// <summary>Logs the effective configuration at start; lets running fills finish, within a bound, at stop.</summary>
public sealed partial class Lifecycle(RegistryOptions options, UpstreamSet upstreams, BlobFills fills, ILogger<Lifecycle> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Config(log, options.DataDir, options.TagTtl, options.RevalidateDeadline, options.DefaultUpstream);
        foreach (var u in upstreams.All.OrderBy(u => u.Name))
            Log.Upstream(log, u.Name, string.Join(", ", u.Endpoints), string.Join(", ", upstreams.AliasesOf(u)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (fills.Count > 0) Log.Draining(log, fills.Count, options.Timeouts.Shutdown);
        return fills.DrainAsync(options.Timeouts.Shutdown);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, Level = LogLevel.Information,
            Message = "CacheRegistry: data dir {DataDir}, tag freshness {TagTtl}, revalidation deadline {Deadline}, default upstream {DefaultUpstream}")]
        public static partial void Config(ILogger logger, string dataDir, TimeSpan tagTtl, TimeSpan deadline, string defaultUpstream);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "upstream {Upstream}: endpoints [{Endpoints}] aliases [{Aliases}]")]
        public static partial void Upstream(ILogger logger, string upstream, string endpoints, string aliases);

        [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "shutdown: waiting up to {Grace} for {Count} running fills")]
        public static partial void Draining(ILogger logger, int count, TimeSpan grace);
    }
}
