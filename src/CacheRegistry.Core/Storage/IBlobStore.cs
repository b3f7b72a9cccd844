using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>
/// Content-addressed blob storage. A blob is visible only after its writer commits, and the
/// writer commits only what the caller has verified against the digest.
/// </summary>
public interface IBlobStore
{
    /// <summary>The blob's size, or null when it is not stored.</summary>
    Task<long?> GetSizeAsync(Digest digest, CancellationToken ct);

    /// <summary>
    /// A stream of <paramref name="length"/> bytes (to the end when null) from <paramref name="offset"/>,
    /// or null when the blob is not stored.
    /// </summary>
    Task<Stream?> OpenReadAsync(Digest digest, long offset, long? length, CancellationToken ct);

    /// <summary>Starts taking in a blob that the caller writes into <paramref name="spool"/>.</summary>
    Task<IBlobWriter> BeginWriteAsync(Digest digest, Spool spool, CancellationToken ct);
}

/// <summary>
/// A blob on its way into the store, read from its spool. Disposing without
/// <see cref="CommitAsync"/> aborts (nothing becomes visible).
/// </summary>
public interface IBlobWriter : IAsyncDisposable
{
    /// <summary>The spool has grown; a store that uploads as bytes arrive may start a part.</summary>
    ValueTask SpoolGrewAsync(CancellationToken ct);

    /// <summary>Makes the blob visible. The caller has checked size and digest.</summary>
    Task CommitAsync(CancellationToken ct);
}
