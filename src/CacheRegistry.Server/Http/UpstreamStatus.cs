using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Http;

/// <summary>/status/upstreams: each upstream's endpoints with health, cool-down and Docker Hub's rate limit.</summary>
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
            }),
        }),
    };
}
