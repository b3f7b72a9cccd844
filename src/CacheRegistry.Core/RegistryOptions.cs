namespace CacheRegistry;

/// <summary>The <c>Registry</c> configuration section. Every key is documented in the README.</summary>
public sealed class RegistryOptions
{
    public const string Section = "Registry";

    /// <summary>Where blobs, spool files and the SQLite database live.</summary>
    public string DataDir { get; set; } = "data";

    /// <summary>How long a tag is answered locally before it is revalidated upstream.</summary>
    public TimeSpan TagTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a stale tag's revalidation may take before the stale digest is served.</summary>
    public TimeSpan RevalidateDeadline { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Upstream for requests that name no registry (what Docker's registry-mirrors sends).</summary>
    public string DefaultUpstream { get; set; } = "docker.io";

    /// <summary>Registries this cache fetches from, by registry host. Merged over the built-in table.</summary>
    public Dictionary<string, UpstreamOptions> Upstreams { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Egress proxy for every upstream (<c>http://host:3128</c>, <c>socks5://user:pass@host:1080</c>).</summary>
    public string? EgressProxy { get; set; }

    /// <summary>Hosts reached without the proxy: names, <c>.domain</c> suffixes, <c>*</c>.</summary>
    public List<string> NoProxy { get; set; } = [];

    /// <summary>Request host name → registry host, for mirrors reached under several names.</summary>
    public Dictionary<string, string> Hosts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public TimeoutOptions Timeouts { get; set; } = new();

    public FillOptions Fill { get; set; } = new();

    public CacheOptions Cache { get; set; } = new();

    public AdminOptions Admin { get; set; } = new();

    /// <summary>Images kept fresh on a schedule.</summary>
    public List<SyncEntry> Sync { get; set; } = [];

    /// <summary>Manifests larger than this are refused (distribution uses 4 MiB too).</summary>
    public int MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Memory for the in-process cache of recent tags and manifests.</summary>
    public long MemoryCacheBytes { get; set; } = 64L * 1024 * 1024;
}

public sealed class UpstreamOptions
{
    /// <summary>Base URLs tried in order, e.g. a domestic mirror first and the origin last.
    /// Credentials for one endpoint go in its URL: <c>https://user:pass@mirror.example</c>.</summary>
    public List<string> Endpoints { get; set; } = [];
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>A pre-issued bearer token, sent instead of running the token flow.</summary>
    public string? Token { get; set; }
    /// <summary>This upstream's egress proxy; <c>direct</c> for none. Overrides Registry:EgressProxy.</summary>
    public string? Proxy { get; set; }
    /// <summary>Resolve tags only at the origin (the last endpoint); digests from any endpoint.</summary>
    public bool TagsFromOriginOnly { get; set; }
    /// <summary>Repository patterns this cache may fetch (<c>library/*</c>, <c>team/**</c>); empty allows all.</summary>
    public List<string> Repositories { get; set; } = [];
    /// <summary>Failures in a row after which an endpoint is skipped for <see cref="CoolDown"/>.</summary>
    public int FailuresBeforeCoolDown { get; set; } = 3;
    public TimeSpan CoolDown { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Another registry host whose cache this one shares (k8s.gcr.io → registry.k8s.io).</summary>
    public string? AliasOf { get; set; }
}

public sealed class TimeoutOptions
{
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>From sending a request to its response headers.</summary>
    public TimeSpan FirstByte { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Longest silence while a body is read.</summary>
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Upper bound for one blob fill, which goes on after its client hangs up.</summary>
    public TimeSpan Fill { get; set; } = TimeSpan.FromHours(2);
    /// <summary>On shutdown, how long running fills may go on before they are cancelled.</summary>
    public TimeSpan Shutdown { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary><c>Registry:Fill</c>: how blob downloads resume and how replicas share them.</summary>
public sealed class FillOptions
{
    /// <summary>Times a dropped upstream connection is resumed (with Range) before the fill fails.</summary>
    public int ResumeAttempts { get; set; } = 5;
    /// <summary>First back-off between resumes; doubled each time, at most 30 s.</summary>
    public TimeSpan ResumeBackoff { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Lifetime of a replica's lease on a digest; renewed while its fill runs.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long a replica waits for another replica's fill before downloading itself.</summary>
    public TimeSpan LeaseWait { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>How often a waiting replica looks for the other's commit.</summary>
    public TimeSpan LeasePoll { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary><c>Registry:Cache</c>: the size limit, pins and maintenance schedule.</summary>
public sealed class CacheOptions
{
    /// <summary>Upper bound for stored blobs, e.g. <c>200GiB</c> or <c>500MB</c>; empty for none.</summary>
    public string? MaxSize { get; set; }
    /// <summary>Eviction starts above this fraction of MaxSize…</summary>
    public double HighWatermark { get; set; } = 0.90;
    /// <summary>…and stops below this one.</summary>
    public double LowWatermark { get; set; } = 0.80;
    /// <summary>Repositories never evicted: <c>docker.io/library/nginx</c>, <c>registry.k8s.io/**</c>.</summary>
    public List<string> Pinned { get; set; } = [];
    /// <summary>How often last-access times are written and the size limit is checked.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>How often unreferenced blobs are collected; zero turns scheduled GC off.</summary>
    public TimeSpan GcInterval { get; set; } = TimeSpan.FromHours(6);
    /// <summary>Blobs younger than this are never collected (a pull may be about to reference them).</summary>
    public TimeSpan GcGrace { get; set; } = TimeSpan.FromHours(1);
}

/// <summary><c>Registry:Admin</c>: the admin API under /admin, off unless a token is set.</summary>
public sealed class AdminOptions
{
    /// <summary>Bearer token the admin API requires; empty turns the admin API off.</summary>
    public string? Token { get; set; }
}

/// <summary>One <c>Registry:Sync</c> entry: an image, or a repository with a tag pattern, refreshed every interval.</summary>
public sealed class SyncEntry
{
    /// <summary>An image reference, e.g. <c>registry.k8s.io/pause:3.9</c>.</summary>
    public string? Image { get; set; }
    /// <summary>A repository, e.g. <c>docker.io/library/nginx</c>; its tags matching <see cref="Tags"/> are synced.</summary>
    public string? Repository { get; set; }
    /// <summary>Regular expression over tags, e.g. <c>^1\.2[5-9]\.\d+$</c>.</summary>
    public string Tags { get; set; } = ".*";
    /// <summary>At most this many matching tags (the last in ordinal order).</summary>
    public int MaxTags { get; set; } = 20;
    public string? Platform { get; set; }
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(6);
}
