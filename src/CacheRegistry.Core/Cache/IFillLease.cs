using CacheRegistry.Oci;

namespace CacheRegistry.Cache;

/// <summary>
/// Decides which replica downloads a digest when replicas share one blob store. A holder keeps
/// its lease alive until it disposes it; if the holder dies, the lease expires and another
/// replica takes over.
/// </summary>
public interface IFillLease
{
    /// <summary>The lease, or the name of the replica that holds it.</summary>
    Task<FillLeaseResult> TryAcquireAsync(Digest digest, CancellationToken ct);
}

/// <summary>
/// Either <see cref="Held"/> (this replica downloads) or <see cref="Holder"/> (another one does;
/// <see cref="PeerUrl"/> is where that replica serves its running fills, when it advertises one).
/// </summary>
public sealed record FillLeaseResult(IHeldLease? Held, string? Holder, string? PeerUrl = null);

public interface IHeldLease : IAsyncDisposable
{
    /// <summary>
    /// False when another replica has taken the lease (this one paused past its lifetime); throws
    /// <see cref="Storage.StoreUnavailableException"/> when the coordinator cannot tell.
    /// </summary>
    Task<bool> IsStillHeldAsync(CancellationToken ct);
}

/// <summary>One process, or replicas that do not share their blobs: every fill may go ahead (fills are already one per digest in-process).</summary>
public sealed class LocalFillLease : IFillLease
{
    private sealed class Held : IHeldLease
    {
        public Task<bool> IsStillHeldAsync(CancellationToken ct) => Task.FromResult(true);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    public static readonly IHeldLease Granted = new Held();

    public Task<FillLeaseResult> TryAcquireAsync(Digest digest, CancellationToken ct) => Task.FromResult(new FillLeaseResult(Granted, null));
}
