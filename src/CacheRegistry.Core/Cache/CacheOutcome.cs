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
