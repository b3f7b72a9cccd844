using CacheRegistry.Cluster;
using CacheRegistry.Oci;

namespace CacheRegistry.Cache;

/// <summary>
/// Another replica's running fill (Registry:Cluster) as a fill's origin: the lease holder's bytes
/// through its peer endpoint, from an offset. A cut body ends its turn; whoever fills next resumes.
/// </summary>
internal sealed class ReplicaOrigin(IPeerFills peers, Digest digest, string peerUrl, string? holder) : IFillOrigin
{
    public bool Resumable => false;

    public string Source => $"replica {holder} ({peerUrl})";

    /// <summary>Null when the holder has neither a fill nor the blob (its lease is stale).</summary>
    public async Task<OriginBody?> OpenAsync(long offset, CancellationToken ct) =>
        await peers.OpenAsync(peerUrl, digest, offset, ct) is { } peer
            ? new OriginBody(peer.Body, offset, peer.Size, Source, "replica " + new Uri(peerUrl).Authority, peer)
            : null;
}
