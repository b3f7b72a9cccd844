using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Hosting;

/// <summary>Logs the effective configuration at start: data dir, stores and upstreams.</summary>
internal sealed partial class StartupSummary(RegistryOptions options, UpstreamSet upstreams, IEnumerable<IHealthProbe> stores,
    CacheRegistry.Signing.SignaturePolicies policies, ILogger<StartupSummary> log)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Config(log, options.DataDir, options.TagTtl, options.RevalidateDeadline, options.DefaultUpstream);
        Log.Stores(log, string.Join("; ", stores.Select(s => s.Name)));
        foreach (var u in upstreams.All.OrderBy(u => u.Name))
            Log.Upstream(log, u.Name, string.Join(", ", u.Endpoints.Select(e => e.BaseUri)), string.Join(", ", upstreams.AliasesOf(u)),
                u.Proxy?.Address ?? "direct", u.TagsFromOriginOnly ? "origin only" : "any endpoint", u.IsOffline ? "; OFFLINE: never asked, only what is cached is served" : "");
        if (options.Offline) Log.Offline(log);
        foreach (var p in policies.All)
            Log.Policy(log, p.Name, string.Join(", ", p.Repositories), p.Enforce ? "enforce" : "warn", string.Join("; ", p.Keys.Keys));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, Level = LogLevel.Information,
            Message = "CacheRegistry: data dir {DataDir}, tag freshness {TagTtl}, revalidation deadline {Deadline}, default upstream {DefaultUpstream}")]
        public static partial void Config(ILogger logger, string dataDir, TimeSpan tagTtl, TimeSpan deadline, string defaultUpstream);

        [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "stores: {Stores}")]
        public static partial void Stores(ILogger logger, string stores);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "upstream {Upstream}: endpoints [{Endpoints}] aliases [{Aliases}] proxy {Proxy}, tags from {Tags}{Offline}")]
        public static partial void Upstream(ILogger logger, string upstream, string endpoints, string aliases, string proxy, string tags, string offline);

        [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "Registry:Offline is on: no upstream is asked anything; only what the cache holds is served, misses get 503")]
        public static partial void Offline(ILogger logger);

        [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "signature policy {Policy} ({Mode}): [{Repositories}] signed by one of [{Keys}]")]
        public static partial void Policy(ILogger logger, string policy, string repositories, string mode, string keys);
    }
}
