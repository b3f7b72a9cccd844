namespace CacheRegistry;

/// <summary>
/// <c>Registry:Cluster</c>: how replicas that share Redis and S3 reach each other. With both
/// <see cref="AdvertiseUrl"/> and <see cref="Secret"/> set, a replica whose client asks for a blob
/// that another replica is downloading streams it from that replica's running fill.
/// </summary>
public sealed class ClusterOptions
{
    /// <summary>The base URL other replicas reach this one at (<c>http://10.1.2.3:5000</c>; the chart uses the pod IP).</summary>
    public string? AdvertiseUrl { get; set; }

    /// <summary>Shared by every replica; signs their requests to each other. Never sent itself.</summary>
    public string? Secret { get; set; }

    /// <summary>Bound of connecting to another replica and getting its response headers.</summary>
    public TimeSpan PeerTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public bool StreamsFromPeers => !string.IsNullOrEmpty(AdvertiseUrl) && !string.IsNullOrEmpty(Secret);
}
