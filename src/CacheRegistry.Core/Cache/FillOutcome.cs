namespace CacheRegistry.Cache;

/// <summary>How a fill ended; <see cref="Running"/> until it does.</summary>
public enum FillOutcome
{
    Running,
    /// <summary>Downloaded, verified and put in the blob store by this fill.</summary>
    Committed,
    /// <summary>The blob store holds it: another replica committed it, or the index had lost its record.</summary>
    FoundInStore,
    /// <summary>Streamed from another replica's running fill and verified here; that replica stores it.</summary>
    FromReplica,
    /// <summary>Downloaded and verified, but the blob store was down: served, not kept.</summary>
    NotStored,
    /// <summary>Nothing usable came: <see cref="BlobFill.Failure"/> says why.</summary>
    Failed,
}
