namespace CacheRegistry.Storage;

/// <summary>The last availability check of a pulled tag: could it still be pulled from its upstream?</summary>
/// <param name="Outcome">available, changed (pullable, but now names another digest), tag_gone, repository_gone, denied, rate_limited or unreachable.</param>
public sealed record AvailabilityCheck(DateTimeOffset CheckedAt, string Outcome, string? Detail);

/// <summary>A tag clients pulled, when they last did, and what its last availability check found.</summary>
public sealed record PulledTag(string Repository, string Tag, DateTimeOffset LastPulled, AvailabilityCheck? Check)
{
    /// <summary>Its last check found that the upstream would not serve it now: only the cache holds it.</summary>
    public bool OnlyInCache => Check?.Outcome is { } outcome && outcome is not ("available" or "changed");
}

/// <summary>
/// Which tags clients pull, kept next to the metadata so the image-availability check knows what
/// matters: the tags people actually use, not everything the cache ever held.
/// </summary>
public interface IPullHistory
{
    /// <summary>Last-pull times, written in batches (the pull tracker flushes periodically).</summary>
    Task RecordPullsAsync(IReadOnlyCollection<KeyValuePair<(string Repository, string Tag), DateTimeOffset>> pulls, CancellationToken ct);
    Task<IReadOnlyList<PulledTag>> PulledSinceAsync(DateTimeOffset since, CancellationToken ct);
    Task RecordCheckAsync(string repository, string tag, AvailabilityCheck check, CancellationToken ct);
}
