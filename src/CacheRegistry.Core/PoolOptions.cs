namespace CacheRegistry;

/// <summary>
/// <c>Registry:Upstreams:&lt;host&gt;:Pool</c>: how a registry whose <c>Strategy</c> is <c>pool</c>
/// fetches a cold blob from all its endpoints at once.
/// </summary>
public sealed class PoolOptions
{
    /// <summary>The blob is fetched in pieces of this size, each with one Range request; smaller blobs come in one request.</summary>
    public ByteSize SegmentSize { get; set; } = new(8L << 20);

    /// <summary>Connections per endpoint working on one blob (mirrors often throttle each connection).</summary>
    public int ConnectionsPerEndpoint { get; set; } = 3;

    /// <summary>A segment that received nothing for this long is taken over by another endpoint from where it stopped.</summary>
    public TimeSpan HedgeAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A manifest is asked of the endpoint that answers fastest; when it has not answered within
    /// this, the next one is asked too, and the first good answer wins.
    /// </summary>
    public TimeSpan ManifestHedgeAfter { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>An endpoint found sending wrong bytes is left out of pools and chains for this long.</summary>
    public TimeSpan QuarantineFor { get; set; } = TimeSpan.FromMinutes(30);
}
