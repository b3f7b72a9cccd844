using System.Net;

namespace CacheRegistry.Server.Http;

internal static class LoopbackClient
{
    /// <summary>
    /// The client is on this machine. Behind trusted proxies (Registry:Limits:TrustedProxies) the
    /// forwarded chain decides: a request from a trusted proxy that names no client (no
    /// X-Forwarded-For applied) is not a local client, even when the proxy itself runs on loopback.
    /// </summary>
    public static bool IsFromLoopback(this HttpContext ctx, LimitsOptions limits)
    {
        if (ctx.Connection.RemoteIpAddress is not { } address || !IPAddress.IsLoopback(address)) return false;
        if (limits.TrustedProxies.Count == 0) return true;
        // The forwarded-headers middleware keeps the proxy's address here when it applied a client's.
        if (ctx.Request.Headers.ContainsKey("X-Original-For")) return true;
        return !limits.TrustedProxies.Any(p => RequestLimits.TryNetwork(p, out var network) && network.Contains(address));
    }
}
