namespace CacheRegistry;

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
    /// <summary>Bring each image's signatures, attestations and other referrers along.</summary>
    public bool Referrers { get; set; } = true;
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(6);
}
