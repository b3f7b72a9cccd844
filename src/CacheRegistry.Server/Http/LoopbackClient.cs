using System.Net;

namespace CacheRegistry.Server.Http;

internal static class LoopbackClient
{
    /// <summary>The client is on this machine (after trusted proxies' X-Forwarded-For, when configured).</summary>
    public static bool IsFromLoopback(this HttpContext ctx) => ctx.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address);
}
