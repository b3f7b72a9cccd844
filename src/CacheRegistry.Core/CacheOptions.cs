namespace CacheRegistry;

/// <summary><c>Registry:Cache</c>: the size limit, pins and maintenance schedule.</summary>
public sealed class CacheOptions
{
    /// <summary>Upper bound for stored blobs, e.g. <c>200GiB</c> or <c>500MB</c>; empty for none.</summary>
    public ByteSize? MaxSize { get; set; }
    /// <summary>Eviction starts above this fraction of MaxSize…</summary>
    public double HighWatermark { get; set; } = 0.90;
    /// <summary>…and stops below this one.</summary>
    public double LowWatermark { get; set; } = 0.80;
    /// <summary>
    /// With a size limit, eviction also keeps this much free on the disk that holds the blobs
    /// (filesystem store), and runs at once when the disk fills up.
    /// </summary>
    public ByteSize MinFreeSpace { get; set; } = new(1L << 30);
    /// <summary>Repositories never evicted: <c>docker.io/library/nginx</c>, <c>registry.k8s.io/**</c>.</summary>
    public List<string> Pinned { get; set; } = [];
    /// <summary>How often last-access times are written and the size limit is checked.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>How often unreferenced blobs are collected; zero turns scheduled GC off.</summary>
    public TimeSpan GcInterval { get; set; } = TimeSpan.FromHours(6);
    /// <summary>Blobs younger than this are never collected (a pull may be about to reference them).</summary>
    public TimeSpan GcGrace { get; set; } = TimeSpan.FromHours(1);
}
