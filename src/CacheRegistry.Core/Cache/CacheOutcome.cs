namespace CacheRegistry.Cache;

/// <summary>How a request was answered, for the request log.</summary>
public enum CacheOutcome
{
    /// <summary>From the cache, no upstream request.</summary>
    Hit,
    /// <summary>Fetched from upstream (and stored).</summary>
    Miss,
    /// <summary>A stale tag served because the upstream failed or was too slow.</summary>
    Stale,
    /// <summary>A stale tag confirmed (or updated) by the upstream.</summary>
    Revalidated,
    /// <summary>Joined a blob fill another request had started.</summary>
    Joined,
    /// <summary>Passed through from upstream without storing.</summary>
    PassThrough,
}

public static class CacheOutcomes
{
    /// <summary>The bytes came out of the cache's stores rather than from an upstream just now.</summary>
    public static bool IsFromCache(this CacheOutcome outcome) => outcome is CacheOutcome.Hit or CacheOutcome.Stale or CacheOutcome.Revalidated;

    /// <summary>The <c>result</c> label of the request metrics.</summary>
    public static string Label(this CacheOutcome outcome) => outcome switch
    {
        CacheOutcome.Hit or CacheOutcome.Revalidated => "hit",
        CacheOutcome.Stale => "stale",
        CacheOutcome.Joined => "joined",
        _ => "miss",
    };
}
