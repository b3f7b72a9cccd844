using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Http;

/// <summary>/status/upstreams: each upstream's endpoints with health, cool-down, quarantine, measured speed and Docker Hub's rate limit.</summary>
internal static class UpstreamStatus
{
    public static object Of(UpstreamSet upstreams, DateTimeOffset now) => new
    {
        upstreams = upstreams.All.OrderBy(u => u.Name).Select(u => new
        {
            name = u.Name,
            aliases = upstreams.AliasesOf(u).Order().ToArray(),
            proxy = u.Proxy?.Address,
            tagsFromOriginOnly = u.TagsFromOriginOnly,
            strategy = u.Pool is null ? "failover" : "pool",
            endpoints = u.Endpoints.Select(e => new
            {
                url = e.BaseUri.ToString(),
                healthy = !e.IsCoolingDown(now),
                coolingDownUntil = e.CoolingDownUntil is { } until && until > now ? until : (DateTimeOffset?)null,
                consecutiveFailures = e.ConsecutiveFailures,
                lastError = e.LastError,
                lastSuccess = e.LastSuccess,
                rateLimitRemaining = e.RateLimitRemaining,
                rateLimitLimit = e.RateLimitLimit,
                quarantinedUntil = e.QuarantinedUntil is { } q && q > now ? q : (DateTimeOffset?)null,
                quarantineReason = e.IsQuarantined(now) ? e.QuarantineReason : null,
                badBytes = e.BadBytes,
                // Averages of recent requests: what a pool's connections got, and how fast the endpoint answers.
                throughputBytesPerSecond = e.Throughput is double t ? Math.Round(t) : (double?)null,
                latencyMs = e.Latency is { } l ? Math.Round(l.TotalMilliseconds, 1) : (double?)null,
            }),
        }),
    };
}
