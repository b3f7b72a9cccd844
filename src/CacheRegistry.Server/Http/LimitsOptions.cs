namespace CacheRegistry.Server.Http;

/// <summary><c>Registry:Limits</c>: how much one client may ask of a shared mirror.</summary>
internal sealed class LimitsOptions
{
    public const string Section = "Registry:Limits";

    /// <summary>Registry API requests per minute per client IP address (0: no limit); beyond it, 429 with Retry-After.</summary>
    public int RequestsPerMinute { get; set; }

    /// <summary>Requests a client may make at once before the per-minute pace applies (default: a minute's worth).</summary>
    public int? Burst { get; set; }

    /// <summary>Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; from anyone else it is ignored.</summary>
    public List<string> TrustedProxies { get; set; } = [];
}
