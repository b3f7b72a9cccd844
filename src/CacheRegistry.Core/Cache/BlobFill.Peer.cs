using System.Buffers;
using CacheRegistry.Cluster;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

// Following another replica's running fill instead of waiting for its commit.
public sealed partial class BlobFill
{
    private string? _lostPeer;

    /// <summary>
    /// Streams the lease holder's running fill into this fill's spool, so this replica's readers get
    /// bytes at the upstream's pace, and checks size and digest itself. True when the whole blob came
    /// through and matched (the holder stores it). False when the holder could not be followed to
    /// the end (gone, restarted, unreachable): the bytes so far stay in the spool, and whoever
    /// downloads next, here or there, resumes after them. Bytes that fail the digest fail the fill.
    /// </summary>
    private async Task<bool> FollowPeerAsync(IPeerFills peers, string peerUrl, string? holder, CancellationToken ct)
    {
        OpenSpool();
        var before = _written;
        try
        {
            using var peer = await OpenLinkedAsync(peers, peerUrl, ct);
            if (peer is null) return false; // it has neither a fill nor the blob: its lease is stale
            var expected = declaredSize ?? ExpectedSize;
            if (peer.Size is long size)
            {
                if (expected is long known && known != size)
                    throw new UpstreamException(UpstreamFailure.Corrupt, $"replica {holder} ({peerUrl}) announced {size} bytes for {Digest}, but {known} are expected; nothing stored");
                expected = size;
                _started.TrySetResult(size);
            }
            else
            {
                await AnnounceSizeAsync(ct);
            }
            if (before == 0) Log.FollowingReplica(context.Log, Digest.ToString(), holder, peerUrl);
            Endpoint = "replica " + new Uri(peerUrl).Authority;
            await CopyFromAsync(peer.Body, expected, ct);
            if (expected is long e && _written < e) return false;
            Verify(expected, $"replica {holder} ({peerUrl})");
            StoredElsewhere = true;
            _state = FillState.Committed;
            _started.TrySetResult(_written);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException && !ct.IsCancellationRequested)
        {
            if (_lostPeer != peerUrl) Log.ReplicaLost(context.Log, Digest.ToString(), holder, peerUrl, _written, e.Message);
            _lostPeer = peerUrl;
            return false;
        }
    }

    /// <summary>
    /// The holder's fill, once this fill's repository is known to have the blob (the holder fills
    /// it for some repository). The link is checked while the holder answers, not before.
    /// </summary>
    private async Task<PeerStream?> OpenLinkedAsync(IPeerFills peers, string peerUrl, CancellationToken ct)
    {
        var opening = peers.OpenAsync(peerUrl, Digest, _written, ct);
        try
        {
            await ConfirmLinkAsync(ct);
        }
        catch
        {
            DisposeWhenDone(opening); // the link's failure is the one that counts
            throw;
        }
        return await opening;
    }

    /// <summary>Appends a body to the spool (not to the store: another replica stores the blob), never past the expected size.</summary>
    private async Task CopyFromAsync(Stream body, long? expected, CancellationToken ct)
    {
        var limit = expected ?? context.MaxBlobBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int n;
            while ((n = await body.ReadAsync(buffer.AsMemory(0, ChunkSize), ct)) > 0)
            {
                if (_written + n > limit)
                    throw new UpstreamException(UpstreamFailure.Corrupt, $"another replica sent more than the {limit} bytes of {Digest}; nothing stored");
                await AppendAsync(buffer.AsMemory(0, n), null, ct);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 318, Level = LogLevel.Information, Message = "fill {Digest}: replica {Holder} is downloading it; streaming its running fill from {PeerUrl}")]
        public static partial void FollowingReplica(ILogger logger, string digest, string? holder, string peerUrl);

        [LoggerMessage(EventId = 319, Level = LogLevel.Warning, Message = "fill {Digest}: replica {Holder} ({PeerUrl}) could not be followed after {Bytes} bytes: {Reason}; waiting for its lease to move")]
        public static partial void ReplicaLost(ILogger logger, string digest, string? holder, string peerUrl, long bytes, string reason);
    }
}
