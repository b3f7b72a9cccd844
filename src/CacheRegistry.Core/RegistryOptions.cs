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

    /// <summary>Serve only what is cached, from every registry; never ask an upstream (air-gapped sites after an import).</summary>
    public bool Offline { get; set; }

    /// <summary>How long an upstream's "not found" for a tag or manifest is remembered (zero: not at all).</summary>
    public TimeSpan NegativeTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Upstream for requests that name no registry (what Docker's registry-mirrors sends).</summary>
    public string DefaultUpstream { get; set; } = "docker.io";

    /// <summary>Whether the built-in registries (docker.io, registry.k8s.io, gcr.io, …) exist; off, only <see cref="Upstreams"/> do.</summary>
    public bool BuiltInUpstreams { get; set; } = true;

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

    public ClusterOptions Cluster { get; set; } = new();

    public CacheOptions Cache { get; set; } = new();

    public TelemetryOptions Telemetry { get; set; } = new();

    public AvailabilityOptions Availability { get; set; } = new();

    public AuthOptions Auth { get; set; } = new();

    /// <summary>Signature policies: which repositories serve only what their publisher signed.</summary>
    public List<PolicyOptions> Policies { get; set; } = [];

    /// <summary>Images kept fresh on a schedule.</summary>
    public List<SyncEntry> Sync { get; set; } = [];

    /// <summary>
    /// The largest blob the cache takes when neither a manifest nor the upstream gives its size
    /// (<c>100GiB</c>); a blob whose size is known is cut at that size whatever this says.
    /// </summary>
    public ByteSize MaxBlobSize { get; set; } = new(100L << 30);

    /// <summary><see cref="MaxBlobSize"/> in bytes.</summary>
    public long MaxBlobBytes => MaxBlobSize.Bytes;

    /// <summary>Manifests larger than this are refused (distribution uses 4 MiB too).</summary>
    public int MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Memory for the in-process cache of recent tags and manifests.</summary>
    public long MemoryCacheBytes { get; set; } = 64L * 1024 * 1024;
}
