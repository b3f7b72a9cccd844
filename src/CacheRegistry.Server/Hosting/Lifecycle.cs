using CacheRegistry.Cache;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Hosting;

/// <summary>Logs the effective configuration at start; lets running fills finish, within a bound, at stop.</summary>
public sealed partial class Lifecycle(RegistryOptions options, UpstreamSet upstreams, BlobFills fills, IConfiguration configuration,
    Storage.StorageOptions storage, Storage.MetadataOptions metadata, ILogger<Lifecycle> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Config(log, options.DataDir, options.TagTtl, options.RevalidateDeadline, options.DefaultUpstream);
        Log.Stores(log, storage.Kind, storage.Kind.Equals("S3", StringComparison.OrdinalIgnoreCase) ? $"{storage.S3.ServiceUrl ?? "aws"}/{storage.S3.Bucket}/{storage.S3.Prefix}" : options.DataDir,
            metadata.Kind, metadata.Kind.Equals("Redis", StringComparison.OrdinalIgnoreCase) ? metadata.Configuration.Split(',')[0] : options.DataDir);
        foreach (var key in ConfigurationKeys.Unknown(configuration)) Log.UnknownKey(log, key);
        foreach (var u in upstreams.All.OrderBy(u => u.Name))
            Log.Upstream(log, u.Name, string.Join(", ", u.Endpoints.Select(e => e.BaseUri)), string.Join(", ", upstreams.AliasesOf(u)),
                u.Proxy?.Address ?? "direct", u.TagsFromOriginOnly ? "origin only" : "any endpoint");
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

        [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "blobs: {BlobKind} ({BlobWhere}); metadata: {MetadataKind} ({MetadataWhere})")]
        public static partial void Stores(ILogger logger, string blobKind, string blobWhere, string metadataKind, string metadataWhere);

        [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "configuration key {Key} is not one CacheRegistry reads; check its spelling (see README)")]
        public static partial void UnknownKey(ILogger logger, string key);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "upstream {Upstream}: endpoints [{Endpoints}] aliases [{Aliases}] proxy {Proxy}, tags from {Tags}")]
        public static partial void Upstream(ILogger logger, string upstream, string endpoints, string aliases, string proxy, string tags);

        [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "shutdown: waiting up to {Grace} for {Count} running fills")]
        public static partial void Draining(ILogger logger, int count, TimeSpan grace);
    }
}
