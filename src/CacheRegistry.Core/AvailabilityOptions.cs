namespace CacheRegistry;

/// <summary>
/// <c>Registry:Availability</c>: the background check that the tags clients pull could still be
/// pulled from their upstreams, off unless enabled.
/// </summary>
public sealed class AvailabilityOptions
{
    public bool Enabled { get; set; }

    /// <summary>Tags pulled within this window are checked.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often a round of checks runs.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>At most this many HEAD requests per registry per round, least recently checked first.</summary>
    public int ChecksPerInterval { get; set; } = 100;
}
