using System.Net;
using System.Threading.RateLimiting;
using CacheRegistry.Oci;
using Microsoft.AspNetCore.HttpOverrides;

namespace CacheRegistry.Server.Http;

/// <summary>
/// Registry:Limits: a token bucket per client IP address for the registry API, and the client's
/// address taken from X-Forwarded-For only when the connection comes from a configured proxy.
/// </summary>
internal static class RequestLimits
{
    public static void AddRequestLimits(this IServiceCollection services, LimitsOptions limits)
    {
        if (limits.TrustedProxies.Count > 0)
            services.Configure<ForwardedHeadersOptions>(o =>
            {
                o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                o.KnownIPNetworks.Clear();
                o.KnownProxies.Clear();
                foreach (var proxy in limits.TrustedProxies) o.KnownIPNetworks.Add(Network(proxy));
            });
        if (limits.RequestsPerMinute <= 0) return;
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.Burst ?? limits.RequestsPerMinute,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1) / limits.RequestsPerMinute,
            QueueLimit = 0,
            AutoReplenishment = true,
        };
        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(ctx => ctx.Request.Path.StartsWithSegments("/v2")
                ? RateLimitPartition.GetTokenBucketLimiter(ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => bucket)
                : RateLimitPartition.GetNoLimiter("unlimited"));
            o.OnRejected = (context, _) =>
            {
                var retry = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? RegistryError.SecondsToRetry(after)
                    : (int)Math.Ceiling(bucket.ReplenishmentPeriod.TotalSeconds);
                var who = context.HttpContext.Connection.RemoteIpAddress;
                throw new RegistryError(429, "TOOMANYREQUESTS",
                    $"{who} made more than {limits.RequestsPerMinute} requests a minute (Registry:Limits:RequestsPerMinute); retry in {retry} s") { RetryAfterSeconds = retry };
            };
        });
    }

    public static void UseRequestLimits(this WebApplication app, LimitsOptions limits)
    {
        if (limits.TrustedProxies.Count > 0) app.UseForwardedHeaders();
        if (limits.RequestsPerMinute > 0) app.UseRateLimiter();
    }

    /// <summary>The rules of <c>Registry:Limits</c>.</summary>
    internal sealed class Rules : OptionRules<LimitsOptions>
    {
        protected override void Check(LimitsOptions o, OptionProblems p)
        {
            if (o.RequestsPerMinute < 0) p.Add($"Registry:Limits:RequestsPerMinute = {o.RequestsPerMinute}: expected 0 (no limit) or more");
            if (o.Burst is < 1) p.Add($"Registry:Limits:Burst = {o.Burst}: expected 1 or more");
            foreach (var proxy in o.TrustedProxies.Where(p => !TryNetwork(p, out _)))
                p.Add($"Registry:Limits:TrustedProxies: '{proxy}' is neither an IP address nor a network such as 10.0.0.0/8");
        }
    }

    private static System.Net.IPNetwork Network(string text) => TryNetwork(text, out var network) ? network : throw new FormatException(text);

    public static bool TryNetwork(string text, out System.Net.IPNetwork network)
    {
        if (System.Net.IPNetwork.TryParse(text, out network)) return true;
        if (!IPAddress.TryParse(text, out var address)) return false;
        network = new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        return true;
    }
}
