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

    Task<IBlobWriter> BeginWriteAsync(Digest digest, CancellationToken ct);
}

/// <summary>Bytes on their way into the store. Disposing without <see cref="CommitAsync"/> aborts.</summary>
public interface IBlobWriter : IAsyncDisposable
{
    /// <summary>
    /// A local file holding every byte written so far, readable while writing; null when the store
    /// keeps none (a fill then keeps a spool file of its own for its readers).
    /// </summary>
    string? LocalPath { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct);

    /// <summary>Makes the blob visible. The caller has checked size and digest.</summary>
    Task CommitAsync(CancellationToken ct);
}
