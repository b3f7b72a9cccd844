using CacheRegistry.Oci;

namespace CacheRegistry.Cache;

/// <summary>
/// Decides which replica downloads a digest. A holder keeps its lease alive until it disposes
/// it; if the holder dies, the lease expires and another replica takes over.
/// </summary>
public interface IFillLease
{
    /// <summary>A held lease, or null when another replica holds it.</summary>
    Task<IAsyncDisposable?> TryAcquireAsync(Digest digest, CancellationToken ct);
}

/// <summary>One process: every fill may go ahead (fills are already one per digest in-process).</summary>
public sealed class LocalFillLease : IFillLease
{
    private sealed class Held : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    public static readonly IAsyncDisposable Granted = new Held();

    public Task<IAsyncDisposable?> TryAcquireAsync(Digest digest, CancellationToken ct) => Task.FromResult<IAsyncDisposable?>(Granted);
}
