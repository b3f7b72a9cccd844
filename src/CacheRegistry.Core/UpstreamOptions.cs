namespace CacheRegistry;

public sealed class UpstreamOptions
{
    /// <summary>Base URLs tried in order, e.g. a domestic mirror first and the origin last.
    /// Credentials for one endpoint go in its URL: <c>https://user:pass@mirror.example</c>.</summary>
    public List<string> Endpoints { get; set; } = [];
    /// <summary>The registry's credentials, sent only to its origin (the last endpoint) and its token service.</summary>
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>A pre-issued bearer token, sent instead of running the token flow.</summary>
    public string? Token { get; set; }
    /// <summary>This upstream's egress proxy; <c>direct</c> for none. Overrides Registry:EgressProxy.</summary>
    public string? Proxy { get; set; }
    /// <summary>Forward the write API (blob uploads, mounts, manifest PUTs) to the origin: the cache is the one address for pulls and pushes.</summary>
    public bool Push { get; set; }
    /// <summary>With <see cref="Push"/>: forward DELETE of manifests and blobs too.</summary>
    public bool AllowDelete { get; set; }
    /// <summary>Resolve tags only at the origin (the last endpoint); digests from any endpoint.</summary>
    public bool TagsFromOriginOnly { get; set; }
    /// <summary>Repository patterns this cache may fetch (<c>library/*</c>, <c>team/**</c>); empty allows all.</summary>
    public List<string> Repositories { get; set; } = [];
    /// <summary>Failures in a row after which an endpoint is skipped for <see cref="CoolDown"/>.</summary>
    public int FailuresBeforeCoolDown { get; set; } = 3;
    public TimeSpan CoolDown { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Hosts (<c>minio.corp</c>, <c>*.storage.corp</c>) this upstream may redirect to or name as token
    /// realm although they resolve to private, loopback or link-local addresses.
    /// </summary>
    public List<string> AllowRedirectsTo { get; set; } = [];
    /// <summary>Serve only what is cached for this registry; never ask it anything (a metered or cut link).</summary>
    public bool Offline { get; set; }
    /// <summary>Body bytes this upstream may send per <see cref="QuotaPeriod"/> (<c>50GiB</c>); once spent, misses get 429 until the period turns.</summary>
    public ByteSize? Quota { get; set; }
    /// <summary><c>day</c> or <c>month</c> (UTC).</summary>
    public string QuotaPeriod { get; set; } = "day";
    /// <summary>At most this many blob downloads from this upstream at once; the rest queue (0: no limit).</summary>
    public int MaxConcurrentFills { get; set; }
    /// <summary>How long a download waits for one of those slots; then its clients get 503 with Retry-After instead of silence.</summary>
    public TimeSpan FillQueueWait { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// <c>Cache</c> (the default): the cache's own credentials, if any. <c>Passthrough</c>: each
    /// client's credentials are used for this upstream instead, and cached content is served to a
    /// client only after its credentials were checked upstream for that repository.
    /// </summary>
    public string ClientCredentials { get; set; } = "Cache";
    /// <summary>How long a passthrough access check (per client identity and repository) is trusted.</summary>
    public TimeSpan PassthroughCheckTtl { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>
    /// <c>failover</c> (default): one endpoint at a time, the next when it fails. <c>pool</c>: a cold
    /// blob is fetched in segments from every healthy endpoint at once (<see cref="Pool"/>).
    /// </summary>
    public string Strategy { get; set; } = "failover";

    public PoolOptions Pool { get; set; } = new();

    /// <summary>
    /// The order a chain asks its endpoints in: <c>configured</c> (default), or <c>measured</c> —
    /// the mirrors by their measured answer time and throughput, fastest first, the origin (the
    /// last endpoint, which alone gets the registry's credentials) still last.
    /// </summary>
    public string Order { get; set; } = "configured";

    public bool IsMeasuredOrder => Order.Equals("measured", StringComparison.OrdinalIgnoreCase);

    public bool IsPool => Strategy.Equals("pool", StringComparison.OrdinalIgnoreCase);

    /// <summary>Another registry host whose cache this one shares (k8s.gcr.io → registry.k8s.io).</summary>
    public string? AliasOf { get; set; }
}
